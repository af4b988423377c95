"The network guard really blocks: nothing in the suite can reach a hub."
import socket, subprocess, sys
import pytest

def test_connect_blocked_here():
    with pytest.raises(OSError, match="network access blocked"):
        socket.create_connection(("93.184.216.34", 443), timeout=2)

def test_dns_blocked_here():
    with pytest.raises(OSError, match="network access blocked"):
        socket.getaddrinfo("huggingface.co", 443)

def test_loopback_allowed():
    srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
    c = socket.create_connection(srv.getsockname(), timeout=2); c.close(); srv.close()

def test_blocked_in_child_processes():
    code = "import socket\ntry:\n socket.create_connection(('1.1.1.1', 443), timeout=2)\nexcept OSError as e: print(e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "network access blocked" in out

def test_every_module_imports_offline():
    "Each exported module imports in a fresh process with the network blocked."
    import pkgutil, mmkd_nb
    mods = [m.name for m in pkgutil.walk_packages(mmkd_nb.__path__, "mmkd_nb.")]
    assert "mmkd_nb.core" in mods and "mmkd_nb.cli" in mods
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)\nprint('ok')"
    r = subprocess.run([sys.executable, "-c", code, *mods], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]
