"Block every network connection that leaves this machine (loaded by every Python process the tests start)."
import ipaddress, os, socket

_real_connect, _real_connect_ex = socket.socket.connect, socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo

class NetworkBlocked(OSError):
    "A test tried to reach the network; mmkd_nb must run offline."

def _is_local(address):
    if isinstance(address, (str, bytes)): return True  # AF_UNIX path
    host = address[0]
    if host in ("localhost", "", None): return True
    try: return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError: return False

def _guard(sock, address):
    if sock.family == getattr(socket, "AF_UNIX", None) or _is_local(address): return
    raise NetworkBlocked(f"network access blocked in tests: connect to {address!r}")

def _connect(self, address):
    _guard(self, address); return _real_connect(self, address)

def _connect_ex(self, address):
    _guard(self, address); return _real_connect_ex(self, address)

def _getaddrinfo(host, *args, **kwargs):
    if host not in (None, "localhost") and not _is_local((host if isinstance(host, str) else host.decode(),)):
        try: ipaddress.ip_address(host if isinstance(host, str) else host.decode())
        except ValueError: raise NetworkBlocked(f"network access blocked in tests: DNS lookup of {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)

if os.environ.get("MMKD_BLOCK_NETWORK", "1") == "1":
    socket.socket.connect, socket.socket.connect_ex = _connect, _connect_ex
    socket.getaddrinfo = _getaddrinfo
