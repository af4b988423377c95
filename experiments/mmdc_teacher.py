"""MmDC's trained teacher against the answers a blind model gets: accuracy by tier over teacher budgets and seeds.

The calibration loop can only pass on what the teacher knows, so the teacher must beat the majority answer on the
world's VQA in every tier. This trains the run's teacher (`teacher_stage`, the same cache the MmDC runs use) at each
budget in --steps for each teacher seed, evaluates it on the whole test split (held-out concepts included), and writes
per budget the accuracy by tier and answer type with the paired interval (over seeds) of teacher − majority answer (of
the training answers, and of the test set's own), beside chance; by tier × seen/held-out concepts; and the loss curve.

    python experiments/mmdc_teacher.py --preset micro --steps 120 480 1440 --seeds 0 1 2 --threads 1

Writes experiments/results/mmdc-teacher-<preset>.json after every teacher (a cut run keeps what it finished; the
teachers themselves are cached, so a rerun only evaluates them).

    python experiments/mmdc_teacher.py --preset micro --steps 120 480 1440 --seeds 0 1 2 --object-eval

adds to an existing results file, for every teacher in it (read from its run folder under --root), its accuracy on the
tier-1 test questions asked about "the object" instead of the concept's name (`anonymise`), by seen / held-out
concept: whether the teacher reads a look from the pixels when the name cannot tell it.

    python experiments/mmdc_teacher.py --preset micro --steps 480 --seeds 0 1 2 --compose-eval

adds, the same way, `compose_eval` on the tier-3 test questions: the teacher's direct answers beside the answers
composed from its own answers to the two tier-2 questions of each relation's parts (same images), how often both
parts are right and how often the direct answer agrees with them: whether tier 3 fails at reading or at composing.

    python experiments/mmdc_teacher.py --preset micro --steps 1440 --seeds 0 1 2 --set teacher_scratchpad=true ...

trains teachers that write a relation's two parts before its answer ('top left, bottom: no'; `scratchpad_record`) and
are scored on the answer after the colon; --compose-eval on them also reports whether the parts they write are right
and whether their answers follow from those parts.

    python experiments/mmdc_teacher.py --preset small --steps 1920 --seeds 0 1 2 --set ... --answer-counts

adds, the same way, each teacher's answers counted per question group (`answer_counts`, read from its run folder's
report), its accuracy per question group and concept split (`by_group_concepts`) and its tier-2 answers by whose value
they name, the asked object's or the other one's (`tier2_objects`); and to the file the test answers' counts per group,
its training records per question kind and the tier-2 accuracy of a perfect reader (`tier2_ceiling`): what a teacher
answers where it is wrong (new runs write these themselves).

    python experiments/mmdc_teacher.py --preset small --steps 480 --seeds 0 1 2 --set ... --position-eval 288

adds, the same way, each teacher's accuracy on 288 fresh position questions about novel objects (a nonce name, so
only the pixels tell; `position_eval`): by tier and by the object's row of the grid, how often it names the right
row, and its answers counted, beside chance and the majority answer.

    python experiments/mmdc_teacher.py --preset small --steps 1920 --seeds 0 1 2 --set ... --position-probe 1536

adds, the same way, where the novel object's cell stops being readable inside each teacher: a linear probe
(`linear_probe`) trained on 1536 fresh position questions and scored on 512 others, on the tower's patch tokens, on
the projected image tokens (each flattened, and order-free: their mean and max) and on the LLM's hidden state at the
last prompt token after each layer. Run again, it fits only the stages a teacher lacks (no LLM when it has those).

    python experiments/mmdc_teacher.py --preset small --steps 480 --seeds 0 1 2 --set teacher_scratch_partner=true ... --partner-eval

adds, for teachers trained to name a tier-2 question's other object and its value before answering
(`teacher_scratch_partner`), their whole tier-2 replies read step by step (`partner_eval`), by concept split: whether
they name the other object, state its value right, and answer with the asked object's value or the one just written.

    python experiments/mmdc_teacher.py --out experiments/results/X.json --merge /tmp/s0.json /tmp/s1.json /tmp/s2.json

joins results files of one config, each trained by its own one-thread process (`--seeds S --out /tmp/sS.json`, so
the seeds train side by side on the cores), into --out with the summary over all seeds. The files must agree on the
config and the baselines; a teacher (budget and seed) in two files must have the same accuracies there, else the merge
stops and names it.
"""
import argparse, datetime, json, os, platform, sys, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def loss_curve(run: Path) -> list:
    "The teacher's logged training loss, (step, loss) pairs, from its run folder (empty when it came from the cache)."
    p = run / "teacher" / "train" / "history.jsonl"
    if not p.is_file(): return []
    rows = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    return [[r["step"], round(r["loss"], 4)] for r in rows if "loss" in r]


def by_tier_concepts(answers: list, records, key=lambda r: f"t{r.meta.get('tier')}") -> dict:
    "Accuracy and count per 't<tier>/<seen|heldout>' (or `key`/...): whether a tier's shortfall is the held-out concepts'."
    from mmkd_nb.metrics import answer_key
    cells = {}
    for a, r in zip(answers, records):
        cell = f"{key(r)}/{'heldout' if r.meta.get('heldout') else 'seen'}"
        cells.setdefault(cell, []).append(answer_key(a) == answer_key(r.answer))
    return {k: dict(accuracy=sum(v) / len(v), n=len(v)) for k, v in sorted(cells.items())}


def by_group_concepts(answers: list, records) -> dict:
    "Accuracy and count per question group and concept split ('t2/position/heldout')."
    from mmkd_nb.evidence import question_group
    return by_tier_concepts(answers, records, key=question_group)


def answer_counts(answers: list, records) -> dict:
    "How often each answer was given, per question group ('t2/position': {'top left': 5, ...}), answers normalised."
    from mmkd_nb.evidence import question_group
    from mmkd_nb.metrics import answer_key
    if len(answers) != len(records):
        raise ValueError(f"answer_counts: {len(answers)} answers for {len(records)} records; expected one each")
    out = {}
    for a, r in zip(answers, records):
        g = out.setdefault(question_group(r), {})
        g[answer_key(a)] = g.get(answer_key(a), 0) + 1
    return {k: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for k, v in sorted(out.items())}


def record_kinds(records) -> dict:
    "Training records per question kind (`meta['qtype']`; 'easy-vqa' for easy-VQA's, which carry none)."
    out = {}
    for r in records:
        k = (r.meta or {}).get("qtype") or (r.meta or {}).get("source") or "easy-vqa"
        out[k] = out.get(k, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: (-kv[1], kv[0])))


def tier2_split(r, heldout) -> str:
    """Which tier-2 question `r` is: 'seen' (both concepts' names were trained), 'heldout, partner seen' (the asked
    name is unknown, the other object's is known: only it can be the one asked about) or 'heldout, partner heldout'
    (both names unknown: nothing in the question or the image tells which object it is)."""
    asked, other = (o["concept"] for o in r.meta["objects"])
    return ("seen" if asked not in heldout else "heldout, partner seen" if other not in heldout
            else "heldout, partner heldout")


def tier2_values(r) -> tuple:
    "The asked object's and the partner's value of tier-2 record `r`'s attribute, each as `answer_key` compares it."
    from mmkd_nb.metrics import answer_key
    if len(r.meta.get("objects") or []) != 2:
        raise ValueError(f"tier-2 record {r.id} has objects {r.meta.get('objects')!r:.80}; "
                         "expected the asked object and its partner")
    return tuple(answer_key(str(o[r.meta["qtype"]])) for o in r.meta["objects"])


def tier2_objects(answers: list, records, heldout) -> dict:
    """Tier-2 answers by whose value they name, per question kind and `tier2_split`: the asked object's ('target'),
    the other object's ('partner'), neither's ('other'), or 'same' where the two objects share the value (the answer
    cannot tell which one was read). Where a teacher is wrong: reading the wrong object, or not reading at all."""
    from mmkd_nb.metrics import answer_key
    if len(answers) != len(records):
        raise ValueError(f"tier2_objects: {len(answers)} answers for {len(records)} records; expected one each")
    out = {}
    for a, r in zip(answers, records):
        if r.meta.get("tier") != 2: continue
        (t, p), got = tier2_values(r), answer_key(a)
        kind = "same" if t == p else "target" if got == t else "partner" if got == p else "other"
        cell = out.setdefault(f"{r.meta['qtype']}/{tier2_split(r, heldout)}", dict(target=0, partner=0, other=0, same=0))
        cell[kind] += 1
    return dict(sorted(out.items()))


def tier2_ceiling(records, heldout) -> float:
    """The tier-2 accuracy of a teacher that reads both objects right and takes the unknown name for the object whose
    name it does not know: 1 where the split says which object is asked about or both share the value, else 1/2."""
    t2 = [r for r in records if r.meta.get("tier") == 2]
    if not t2: raise ValueError("tier2_ceiling: no tier-2 records")
    same = lambda r: len(set(tier2_values(r))) == 1
    return sum(0.5 if tier2_split(r, heldout) == "heldout, partner heldout" and not same(r) else 1.0
               for r in t2) / len(t2)


def answer_fields(answers: list, records, heldout) -> dict:
    "A teacher's `answer_counts`, `by_group_concepts` and `tier2_objects` on `records` (`heldout`: the unseen names)."
    return dict(answer_counts=answer_counts(answers, records), by_group_concepts=by_group_concepts(answers, records),
                tier2_objects=tier2_objects(answers, records, set(heldout)))


def file_counts(data: dict) -> dict:
    """A results file's test answers counted per group (`gold_counts`), its training records per kind (`train_kinds`),
    its tier-2 questions per kind and split (`tier2_gold`) and what a perfect reader scores on them (`tier2_ceiling`)."""
    recs, held = data["eval_world"], data["world"].heldout
    return dict(gold_counts=answer_counts([r.answer for r in recs], recs), train_kinds=record_kinds(data["teacher_train"]),
                tier2_gold=tier2_objects([r.answer for r in recs], recs, held), tier2_ceiling=tier2_ceiling(recs, held))


def add_answer_counts(doc: dict, data: dict, root: Path, command: str) -> dict:
    """`answer_counts` and `by_group_concepts` for every teacher of a results file, from its run folder's report; the gold
    counts and record kinds."""
    for steps, runs in doc["runs"].items():
        for seed, rep in runs.items():
            p = root / f"{steps}-s{seed}" / "teacher" / "report.json"
            if not p.is_file(): raise FileNotFoundError(f"--answer-counts: no teacher report at {p}")
            rep["world"].update(answer_fields(json.loads(p.read_text())["world"]["answers"], data["eval_world"],
                                              data["world"].heldout))
    doc.update(file_counts(data))
    doc["commands"] = list(dict.fromkeys(doc.get("commands", [doc["command"]]) + [command]))
    return doc


def baseline_cells(records) -> dict:
    "The test set's own majority answer per question group, scored per 't<tier>/<seen|heldout>' cell."
    from mmkd_nb.evidence import majority_baseline, question_group
    groups = majority_baseline(records)["groups"]
    return by_tier_concepts([groups[question_group(r)]["answer"] for r in records], records)


def object_eval(cfg, run: Path, records, fit) -> dict:
    """The run's teacher on `records`' tier-1 questions asked about 'the object': accuracy by seen / held-out concept,
    beside chance and the majority answer of the training questions `fit` on the same questions."""
    from mmkd_nb.evidence import majority_baseline
    from mmkd_nb.mmdc.run import load_teacher, evaluate, anonymise, chance_baseline
    t1 = anonymise([r for r in records if r.meta.get("tier") == 1], 1.0, "object-eval")
    res = evaluate(load_teacher(cfg, run), t1, cfg.max_new_tokens)
    part = {k: [r for r in t1 if r.meta.get("heldout") == (k == "heldout")] for k in ("seen", "heldout")}
    return dict(accuracy=res["accuracy"], n=res["n"], by_concepts=res["by_concepts"],
                chance={k: chance_baseline(v, fit=fit)["accuracy"] for k, v in part.items() if v},
                majority_of_train={k: majority_baseline(v, fit=fit)["accuracy"] for k, v in part.items() if v})


def add_object_eval(doc: dict, base, data: dict, root: Path, command: str) -> dict:
    "`object_eval` for every teacher of a results file, from its run folder; the command joins the file's commands."
    for steps, runs in doc["runs"].items():
        for seed, rep in runs.items():
            cfg = base.replace(teacher_steps=int(steps), teacher_seed=int(seed))
            rep["world"]["tier1_object"] = object_eval(cfg, root / f"{steps}-s{seed}", data["eval_world"],
                                                       data["teacher_train"])
            o = rep["world"]["tier1_object"]["by_concepts"]
            print(f"teacher {steps} steps seed {seed}, 'the object': seen {o.get('seen', float('nan')):.3f}, "
                  f"held-out {o.get('heldout', float('nan')):.3f}", flush=True)
    doc["commands"] = list(dict.fromkeys(doc.get("commands", [doc["command"]]) + [command]))
    return doc


def grid_row(position: str) -> str:
    "The row of the world's 3 × 3 grid a position answer names: 'top', 'middle' or 'bottom' ('' if it names none)."
    from mmkd_nb.world import POSITIONS
    if position not in POSITIONS: return ""
    return ("top", "middle", "bottom")[POSITIONS[position][0]]


def position_eval(cfg, run: Path, world, n: int) -> dict:
    """The run's teacher on `n` fresh position questions ('Where is the dax?') about a novel object, alone (tier 1) or
    beside a seen concept (tier 2): its name is a nonce word, so only the pixels can tell. Accuracy by tier and by the
    object's row of the grid, how often the answer names the right row, and the answers counted, beside chance (1/9)
    and the majority answer of these questions; and the size of the teacher's image tokens beside its words'
    (`token_scale`)."""
    from collections import Counter
    from mmkd_nb.metrics import answer_key
    from mmkd_nb.mmdc.run import load_teacher, evaluate, novel_questions
    from mmkd_nb.world import POSITIONS
    recs = novel_questions(world, n, "position-eval", qtypes=("position",))
    teacher = load_teacher(cfg, run)
    res = evaluate(teacher, recs, cfg.max_new_tokens)
    got, gold = [answer_key(a) for a in res["answers"]], [answer_key(r.answer) for r in recs]
    hit = [g == a for g, a in zip(gold, got)]
    rows = {row: [h for h, g in zip(hit, gold) if grid_row(g) == row] for row in ("top", "middle", "bottom")}
    return dict(accuracy=res["accuracy"], n=len(recs), by_tier=res["by_tier"],
                by_row={k: sum(v) / len(v) for k, v in rows.items() if v},
                row_right=sum(grid_row(a) == grid_row(g) for a, g in zip(got, gold)) / len(recs),
                answer_counts=dict(Counter(got).most_common()), gold_counts=dict(Counter(gold).most_common()),
                chance=1 / len(POSITIONS), majority=Counter(gold).most_common(1)[0][1] / len(recs),
                **token_scale(teacher, [r.image for r in recs[:32]]))


def token_scale(model, images) -> dict:
    "The mean norm of a model's projected image tokens on `images` beside the mean norm of its LLM's word embeddings."
    import torch
    with torch.no_grad():
        h = model.image_tokens(images).float()                                   # (B, P, D_llm)
        words = model.lm.llm.get_input_embeddings().weight.float()               # (V, D_llm)
    return dict(image_token_norm=h.norm(dim=-1).mean().item(), word_norm=words.norm(dim=-1).mean().item())


def linear_probe(train_x, train_y, test_x, test_y, n_classes: int, l2s=(1e-4, 1e-3, 1e-2, 1e-1)) -> dict:
    """Multinomial logistic regression on standardised features (B, F) → class: the L2 weight chosen on the last
    quarter of the training rows, refitted on all of them, scored on the test rows. Accuracy on train and test.
    Deterministic: the weights start at zero and L-BFGS draws nothing."""
    import torch
    import torch.nn.functional as F
    x, tx = torch.as_tensor(train_x, dtype=torch.float64), torch.as_tensor(test_x, dtype=torch.float64)
    y, ty = torch.as_tensor(train_y), torch.as_tensor(test_y)
    if x.dim() != 2 or tx.dim() != 2 or x.shape[1] != tx.shape[1] or len(x) != len(y) or len(tx) != len(ty):
        raise ValueError(f"linear_probe: features {tuple(x.shape)} / {tuple(tx.shape)} with {len(y)} / {len(ty)} labels; "
                         "expected (B, F) features and one label per row, the same F for train and test")
    mu, sd = x.mean(0), x.std(0).clamp_min(1e-8)
    x, tx = (x - mu) / sd, (tx - mu) / sd

    def fit(a, b, l2):
        w = torch.zeros(a.shape[1] + 1, n_classes, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w], max_iter=300, line_search_fn="strong_wolfe", tolerance_grad=1e-9)
        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(a @ w[:-1] + w[-1], b) + l2 * w[:-1].pow(2).sum()
            loss.backward()
            return loss
        opt.step(closure)
        return w.detach()
    acc = lambda w, a, b: ((a @ w[:-1] + w[-1]).argmax(1) == b).double().mean().item()
    k = len(x) * 3 // 4
    val = {l2: acc(fit(x[:k], y[:k], l2), x[k:], y[k:]) for l2 in l2s}
    best = max(l2s, key=lambda l2: (val[l2], l2))            # ties: the stronger penalty
    w = fit(x, y, best)
    return dict(test=acc(w, tx, ty), train=acc(w, x, y), l2=best, val=val, n_train=len(x), n_test=len(tx))


def order_free(x):
    "(B, P, D) tokens -> (B, 2D): their mean and their elementwise max, the same for any order of the P tokens."
    import torch
    return torch.cat([x.mean(1), x.amax(1)], -1)


def probe_features(model, records, layers=None, batch: int = 32, llm: bool = True) -> dict:
    """Each record's features at three stages of a teacher: the tower's pooled patch tokens (flattened, P × D_enc), the
    projected image tokens the LLM receives (P × D_llm), and the LLM's hidden state at the last prompt token (what
    predicts the answer's first token) after each of `layers` (default all; 0 = the embeddings, which have not seen
    the image). Prompts are left-padded as in `generate`, so the last column is every row's last prompt token.
    The two image-token stages also come order-free (`order_free`): flattened, a probe knows which token is which;
    order-free, it must read the cell from what the tokens hold, as the LLM must without a sense of their order.
    `llm=False` skips the LLM."""
    import torch
    from mmkd_nb.mmdc.roles import chat
    out = {"tower": [], "projected": [], "tower, order-free": [], "projected, order-free": []}
    model.eval()
    dev = model.W.weight.device
    with torch.no_grad():
        for i in range(0, len(records), batch):
            rs = records[i:i + batch]
            pix = model.encoder.preprocess([r.image for r in rs]).to(dev)          # (B, 3, S, S)
            z = model.encoder.encode_image(pix).states[:, 1:]                      # (B, P, D_enc)
            h = model.W(z.to(model.W.weight.dtype))                               # (B, P, D_llm)
            # copies, not views: a view of the last column would keep every layer's (B, T, D_llm) states alive
            out["tower"].append(z.flatten(1).float().clone()); out["projected"].append(h.flatten(1).float().clone())
            out["tower, order-free"].append(order_free(z.float())); out["projected, order-free"].append(order_free(h.float()))
            if not llm: continue
            b = {k: v.to(dev) for k, v in model.prompt_batch([chat(r.question) for r in rs]).items()}
            inp = model.lm.splice_inputs(b["input_ids"], b["attention_mask"], h, b["insert_at"])
            hs = model.lm.llm(inputs_embeds=inp["inputs_embeds"], attention_mask=inp["attention_mask"],
                              position_ids=inp["position_ids"], output_hidden_states=True, use_cache=False).hidden_states
            for l in (range(len(hs)) if layers is None else layers):
                out.setdefault(f"llm {l}", []).append(hs[l][:, -1].float().clone())  # (B, D_llm) at the last prompt token
    return {k: torch.cat(v) for k, v in out.items()}


def position_probe(cfg, run: Path, world, n_train: int, n_test: int, have: dict | None = None) -> dict:
    """Where the novel object's cell stops being readable: a linear probe (`linear_probe`, 9 classes) at each stage of
    the run's teacher (`probe_features`), trained on `n_train` fresh position questions about novel objects and scored
    on `n_test` others, beside chance and the majority cell of the test questions. `have`: an earlier result of the
    same sizes; its stages are kept (the questions and the probe are deterministic) and only missing ones are fitted,
    without the LLM when no LLM stage is missing."""
    from collections import Counter
    from mmkd_nb.metrics import answer_key
    from mmkd_nb.mmdc.run import load_teacher, novel_questions
    from mmkd_nb.world import POSITIONS
    if have and (have["n_train"], have["n_test"]) != (n_train, n_test): have = None   # other sizes: start again
    done = dict(have["stages"]) if have else {}
    recs = novel_questions(world, n_train + n_test, "position-probe", qtypes=("position",))
    cells = list(POSITIONS)
    y = [cells.index(answer_key(r.answer)) for r in recs]
    feats = probe_features(load_teacher(cfg, run), recs, llm=not any(k.startswith("llm ") for k in done))
    stages = {k: done.get(k) or linear_probe(f[:n_train], y[:n_train], f[n_train:], y[n_train:], len(cells))
              for k, f in feats.items()}
    stages.update({k: v for k, v in done.items() if k not in stages})
    return dict(stages=stages, chance=1 / len(cells), majority=Counter(y[n_train:]).most_common(1)[0][1] / n_test,
                n_train=n_train, n_test=n_test)


def add_position_probe(doc: dict, base, root: Path, command: str, n: int) -> dict:
    """`position_probe` (n training and n // 3 test questions) for every teacher of a results file, from its run folder;
    a teacher probed before at these sizes gets only the stages it lacks."""
    from mmkd_nb.world import WorldConfig, make_world
    world = make_world(WorldConfig.preset(base.world))
    for steps, runs in doc["runs"].items():
        for seed, rep in runs.items():
            cfg = base.replace(teacher_steps=int(steps), teacher_seed=int(seed))
            p = rep["position_probe"] = position_probe(cfg, root / f"{steps}-s{seed}", world, n, n // 3,
                                                       have=rep.get("position_probe"))
            print(f"teacher {steps} steps seed {seed}, position probe (test): "
                  + ", ".join(f"{k} {v['test']:.2f}" for k, v in p["stages"].items()), flush=True)
    doc["commands"] = list(dict.fromkeys(doc.get("commands", [doc["command"]]) + [command]))
    return doc


def add_position_eval(doc: dict, base, data: dict, root: Path, command: str, n: int) -> dict:
    "`position_eval` for every teacher of a results file, from its run folder; the command joins the file's commands."
    from mmkd_nb.world import WorldConfig, make_world
    world = make_world(WorldConfig.preset(base.world))
    for steps, runs in doc["runs"].items():
        for seed, rep in runs.items():
            cfg = base.replace(teacher_steps=int(steps), teacher_seed=int(seed))
            p = rep["position_eval"] = position_eval(cfg, root / f"{steps}-s{seed}", world, n)
            print(f"teacher {steps} steps seed {seed}, novel positions: {p['accuracy']:.3f} (rows "
                  f"{ {k: round(v, 2) for k, v in p['by_row'].items()} }, right row {p['row_right']:.3f})", flush=True)
    doc["commands"] = list(dict.fromkeys(doc.get("commands", [doc["command"]]) + [command]))
    return doc


def partner_parts(reply: str) -> tuple:
    "(name, value, answer) of a partner-scratchpad reply 'kiki blue: red'; (None, None, reply) where it wrote no colon."
    from mmkd_nb.mmdc.models import SCRATCH_SEP
    parts, sep, answer = reply.rpartition(SCRATCH_SEP)
    if not sep: return None, None, reply.strip()
    name, _, value = parts.strip().partition(" ")
    return name, value.strip(), answer.strip()


def partner_eval(model, records, heldout, max_new_tokens: int = 6) -> dict:
    """A partner-scratchpad teacher (`teacher_scratch_partner`) on `records`' tier-2 questions, its whole replies read
    step by step, per `tier2_split`: how often it names the other object (`named_partner`), states that object's value
    right (`partner_value`), and answers with the asked object's value (`answer_target`), the partner's (`answer_partner`)
    or the value it has just written for the partner (`answer_named`: it named the other one and did not exclude it)."""
    from mmkd_nb.metrics import answer_key
    from mmkd_nb.mmdc.roles import chat
    t2 = [r for r in records if r.meta.get("tier") == 2]
    if not t2: raise ValueError("partner_eval: no tier-2 record among the records; expected VQA records with meta['tier'] == 2")
    whole = model.generate([r.image for r in t2], [chat(r.question) for r in t2], max_new_tokens, keep_scratch=True)
    cells, held = {}, set(heldout)
    for r, w in zip(t2, whole):
        (t, p), other = tier2_values(r), r.meta["objects"][1]["concept"]
        name, value, answer = partner_parts(w)
        v, a = (None if value is None else answer_key(value)), answer_key(answer)
        row = dict(named_partner=name == other, partner_value=v == p, answer_target=a == t, answer_partner=a == p,
                   answer_named=v is not None and a == v)
        cells.setdefault(tier2_split(r, held), []).append(row)
    out = {split: {**{f: sum(x[f] for x in rows) / len(rows) for f in rows[0]}, "n": len(rows)}
           for split, rows in sorted(cells.items())}
    return dict(by_split=out, replies=whole)


def add_partner_eval(doc: dict, base, data: dict, root: Path, command: str) -> dict:
    "`partner_eval` for every teacher of a results file, from its run folder; the command joins the file's commands."
    from mmkd_nb.mmdc.run import load_teacher
    for steps, runs in doc["runs"].items():
        for seed, rep in runs.items():
            cfg = base.replace(teacher_steps=int(steps), teacher_seed=int(seed))
            p = rep["world"]["tier2_partner"] = partner_eval(load_teacher(cfg, root / f"{steps}-s{seed}"),
                                                             data["eval_world"], data["world"].heldout, cfg.max_new_tokens)
            print(f"teacher {steps} steps seed {seed}, tier-2 partner steps: "
                  f"{ {k: {f: round(v, 2) for f, v in c.items()} for k, c in p['by_split'].items()} }", flush=True)
    doc["commands"] = list(dict.fromkeys(doc.get("commands", [doc["command"]]) + [command]))
    return doc


def compose_report(cfg, run: Path, records) -> dict:
    "`compose_eval` of the run's teacher on `records`, without the answer lists."
    from mmkd_nb.mmdc.run import load_teacher, compose_eval
    res = compose_eval(load_teacher(cfg, run), records, cfg.max_new_tokens)
    keep = ("accuracy", "n", "by_concepts", "by_group")
    out = dict({k: v for k, v in res.items() if k not in ("direct", "composed", "part_answers")},
               direct={k: res["direct"][k] for k in keep}, composed={k: res["composed"][k] for k in keep})
    if "scratch" in res:   # a scratchpad teacher: its written parts, with a few whole replies to read
        out["scratch"] = {k: v for k, v in res["scratch"].items() if k != "replies"}
        out["scratch"]["examples"] = [[r.question, w, r.answer] for r, w in
                                      zip([r for r in records if r.meta.get("tier") == 3], res["scratch"]["replies"][:8])]
    return out


def add_compose_eval(doc: dict, base, data: dict, root: Path, command: str, steps=None) -> dict:
    "`compose_report` for every teacher of a results file (of the budgets `steps`, default all), from its run folder."
    for st, runs in doc["runs"].items():
        if steps and int(st) not in steps: continue
        for seed, rep in runs.items():
            cfg = base.replace(teacher_steps=int(st), teacher_seed=int(seed))
            c = rep["world"]["tier3_compose"] = compose_report(cfg, root / f"{st}-s{seed}", data["eval_world"])
            print(f"teacher {st} steps seed {seed}, tier 3: direct {c['direct']['accuracy']:.3f}, composed "
                  f"{c['composed']['accuracy']:.3f}, both parts right {c['parts_right']:.3f}, agree {c['agree']:.3f}"
                  + (f", scratchpad parts right {c['scratch']['parts_right']:.3f}, followed {c['scratch']['follows']:.3f}"
                     if "scratch" in c else ""), flush=True)
    doc["commands"] = list(dict.fromkeys(doc.get("commands", [doc["command"]]) + [command]))
    return doc


def summarise(doc: dict) -> dict:
    """Per budget and tier: the teacher's mean accuracy over seeds, and for each blind baseline (the training answers'
    majority per question group, what a model that ignores the image learns; the test set's own majority, an oracle of
    the test answers) the paired interval of teacher − baseline with its verdict."""
    from mmkd_nb.evidence import paired_interval, verdict
    blind = {k: doc["baselines"]["world"][k] for k in ("majority of train", "majority")}
    out = {}
    for steps, runs in doc["runs"].items():
        seeds = sorted(runs, key=int)
        if len(seeds) < 2: continue
        row = {}
        for tier in ["all", *sorted(blind["majority"]["by_tier"])]:
            acc = {s: runs[s]["world"]["accuracy"] if tier == "all" else runs[s]["world"]["by_tier"][tier] for s in seeds}
            row[tier] = dict(teacher=sum(acc.values()) / len(acc), per_seed=acc)
            for name, b in blind.items():
                base = b["accuracy"] if tier == "all" else b["by_tier"][tier]
                iv = paired_interval(acc, {s: base for s in seeds})
                row[tier][name] = dict(accuracy=base, diff=iv.to_dict(), verdict=verdict(iv))
        out[steps] = row
    return out


def merge(paths: list) -> dict:
    """One results file from several of one config (seeds trained in separate processes): the union of their teachers,
    sorted by seed, every file's commands, and the summary recomputed over all seeds. Configs are compared with the
    fields added since a file was written at their defaults."""
    from mmkd_nb.mmdc.run import MmDCConfig
    docs = [json.loads(Path(p).read_text()) for p in paths]
    for d in docs:   # fields added since a file was written: at their defaults, as the file's teachers were trained
        d["config"] = MmDCConfig.from_dict(d["config"]).to_dict()
    for p, d in zip(paths[1:], docs[1:]):
        for k in ("preset", "config", "baselines", "n_test"):
            if d.get(k) != docs[0].get(k):
                raise ValueError(f"{p}: its {k!r} differs from {paths[0]}'s; only files of one config merge")
    runs, seconds = {}, {}
    for p, d in zip(paths, docs):
        for st, by_seed in d["runs"].items():
            for seed, rep in by_seed.items():
                have = runs.setdefault(st, {}).get(seed)
                if have is not None and (have["world"]["accuracy"], have["world"]["by_tier"]) != (
                        rep["world"]["accuracy"], rep["world"]["by_tier"]):
                    raise ValueError(f"{p}: teacher {st} steps seed {seed} differs from the one in another file")
                runs[st][seed] = {**(have or {}), **rep}
        seconds.update(d.get("seconds", {}))
    runs = {st: dict(sorted(r.items(), key=lambda kv: int(kv[0]))) for st, r in sorted(runs.items(), key=lambda kv: int(kv[0]))}
    doc = {**docs[0], "runs": runs, "seconds": seconds,
           "commands": list(dict.fromkeys(c for d in docs for c in d.get("commands", [d["command"]])))}
    doc["command"], doc["summary"] = doc["commands"][0], summarise(doc)
    return doc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="micro", choices=["tiny", "micro", "small"])
    ap.add_argument("--steps", type=int, nargs="+", default=[120, 480, 1440], help="teacher training steps to compare")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="teacher seeds (teacher_seed)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--root", default="artifacts/experiments/mmdc-teacher")
    ap.add_argument("--out", default=None, help="default experiments/results/mmdc-teacher-<preset>.json")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="MmDCConfig field (repeatable)")
    ap.add_argument("--object-eval", action="store_true",
                    help="add 'the object' accuracy (`object_eval`) to every teacher of the existing results file")
    ap.add_argument("--compose-eval", action="store_true",
                    help="add the tier-3 composition probe (`compose_eval`) to the teachers of --steps in the results file")
    ap.add_argument("--answer-counts", action="store_true",
                    help="add each teacher's answers counted per question group to the results file (from its run folder)")
    ap.add_argument("--position-eval", type=int, default=0, metavar="N",
                    help="add each teacher's accuracy on N fresh position questions about novel objects "
                         "(`position_eval`) to the results file")
    ap.add_argument("--position-probe", type=int, default=0, metavar="N",
                    help="add a linear probe of the novel object's cell at the tower, the projector and each LLM layer "
                         "(`position_probe`, N training and N // 3 test questions) to the results file")
    ap.add_argument("--partner-eval", action="store_true",
                    help="add a partner-scratchpad teacher's tier-2 replies read step by step (`partner_eval`) to the "
                         "results file")
    ap.add_argument("--merge", nargs="+", default=None, metavar="FILE",
                    help="join these results files of one config (seeds run by separate processes) into --out")
    a = ap.parse_args(argv)
    if a.merge:
        if not a.out: ap.error("--merge needs --out")
        from mmkd_nb.core import save_json
        doc = merge(a.merge)
        save_json(doc, a.out)   # atomic
        print(f"{a.out}: {({st: sorted(r, key=int) for st, r in doc['runs'].items()})} from {len(a.merge)} files")
        return doc
    import torch
    torch.set_num_threads(a.threads)
    from mmkd_nb.core import save_json
    from mmkd_nb.mmdc.run import MmDCConfig, teacher_stage, run_data, baselines
    common = MmDCConfig.parse_sets(a.set)
    base = MmDCConfig.preset(a.preset, n_eval=0, **common)   # n_eval=0: the whole test split
    out = Path(a.out or f"experiments/results/mmdc-teacher-{a.preset}.json")
    data = run_data(base)
    command = "python experiments/mmdc_teacher.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if a.object_eval or a.compose_eval or a.answer_counts or a.position_eval or a.position_probe or a.partner_eval:
        flag = ("--object-eval" if a.object_eval else "--compose-eval" if a.compose_eval else
                "--answer-counts" if a.answer_counts else "--position-eval" if a.position_eval else
                "--position-probe" if a.position_probe else "--partner-eval")
        if not out.is_file(): raise FileNotFoundError(f"{flag}: no results file at {out}; train the teachers first")
        doc = json.loads(out.read_text())
        if MmDCConfig.from_dict(doc["config"]).to_dict() != base.to_dict():   # fields added since: at their defaults
            raise ValueError(f"{flag}: {out} holds teachers of another config; give the same --preset and --set")
        if a.object_eval: doc = add_object_eval(doc, base, data, Path(a.root), command)
        if a.compose_eval: doc = add_compose_eval(doc, base, data, Path(a.root), command, a.steps)
        if a.answer_counts: doc = add_answer_counts(doc, data, Path(a.root), command)
        if a.position_eval: doc = add_position_eval(doc, base, data, Path(a.root), command, a.position_eval)
        if a.position_probe: doc = add_position_probe(doc, base, Path(a.root), command, a.position_probe)
        if a.partner_eval:
            if not base.teacher_scratch_partner: raise ValueError("--partner-eval: the teachers were not trained with "
                                                                   "teacher_scratch_partner=true; give that --set")
            doc = add_partner_eval(doc, base, data, Path(a.root), command)
        save_json(doc, out)
        return doc
    doc = dict(command=command,
               date=datetime.date.today().isoformat(), preset=a.preset, config=base.to_dict(),
               machine=dict(cpus=os.cpu_count(), threads=a.threads, python=platform.python_version(),
                            torch=torch.__version__),
               n_test=len(data["eval_world"]), baselines=baselines(data), runs={}, seconds={},
               majority_cells=baseline_cells(data["eval_world"]), **file_counts(data))
    for steps in a.steps:
        for seed in a.seeds:
            cfg, run, t0 = base.replace(teacher_steps=steps, teacher_seed=seed), Path(a.root) / f"{steps}-s{seed}", time.time()
            rep = teacher_stage(cfg, run, data)
            rep["world"]["by_tier_concepts"] = by_tier_concepts(rep["world"]["answers"], data["eval_world"])
            rep["world"].update(answer_fields(rep["world"]["answers"], data["eval_world"], data["world"].heldout))
            for part in ("world", "easy", "train_world"):
                if isinstance(rep.get(part), dict): rep[part].pop("answers", None)
            rep["loss_curve"] = loss_curve(run)
            doc["runs"].setdefault(str(steps), {})[str(seed)] = rep
            doc["seconds"][f"{steps}-s{seed}"] = round(time.time() - t0, 1)
            doc["summary"] = summarise(doc)
            save_json(doc, out)
            w = rep["world"]
            print(f"teacher {steps} steps seed {seed}: world {w['accuracy']:.3f} by tier "
                  f"{ {k: round(v, 3) for k, v in w['by_tier'].items()} } ({doc['seconds'][f'{steps}-s{seed}']} s)",
                  flush=True)
    return doc


if __name__ == "__main__":
    main()
