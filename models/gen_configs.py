#!/usr/bin/env python3
"""Writes models/<model>/configs/<task>.<tier>.textproto for s4d, s4, transformer and bag.

The tables below are the single source; rerun after editing them:  python3 models/gen_configs.py
Each file is an lra.harness.RunConfig layered over harness/configs/<tier>.textproto.
"""
import os

ROOT = os.path.dirname(os.path.abspath(__file__))
TASKS = ["listops", "text", "retrieval", "image", "pathfinder", "pathx", "fashion_mnist"]
PIXEL = {"image", "pathfinder", "pathx", "fashion_mnist"}

# ---- S4 / S4D recipe sets: `v3` and `v4` (tiers of their own; `paper` names one of them) ----
# Every value below is the effective one of one state-spaces/s4 recipe: the experiment yaml, and
# for what it leaves unset the defaults it composes (model, layer, optimizer, scheduler, trainer,
# pipeline, dataset yamls) and the code defaults. Each generated line ends with a key naming the
# file it came from; the key's legend heads the file.
S4_REPO = "state-spaces/s4"
# V3: the repository as released for S4 arXiv v3 ("prepare V3 repository", 2022-08-02). Its LRA
# experiment files were later renamed to configs/experiment/lra/old/v3-s4-*.yaml (62a14bb) after
# edits that are not V3 (43f5b0c: IMDb n_ssm, Path-X lr and warmup; 00d11ea: CIFAR steps), so
# the files at d589d98 are cited.
V3 = "d589d98"
V4 = "e757cef"
# S4's name of each task: its experiment, pipeline and (but for Path-X) dataset file names.
S4_NAME = {"listops": "listops", "text": "imdb", "retrieval": "aan", "image": "cifar",
           "pathfinder": "pathfinder", "pathx": "pathx", "fashion_mnist": "cifar"}


def s4_exp_path(version, task):
    name = S4_NAME[task]
    if version == "v3":
        return f"configs/experiment/lra/s4-lra-{name}.yaml"
    return f"configs/experiment/lra/s4-{name}.yaml"


def s4_sources(version, task):
    """Legend key -> "repo@commit:path" for one recipe."""
    c = V3 if version == "v3" else V4
    kernel = "src/models/s4/s4.py" if version == "v3" else "src/models/sequence/kernels/ssm.py"
    code = ("src/dataloaders/basic.py" if task in ("image", "fashion_mnist")
            else "src/dataloaders/lra.py")
    dataset = "pathfinder" if task == "pathx" else S4_NAME[task]
    return {
        "E": f"{S4_REPO}@{c}:{s4_exp_path(version, task)}",
        "M": f"{S4_REPO}@{c}:configs/model/base.yaml + configs/model/s4.yaml",
        "L": f"{S4_REPO}@{c}:configs/model/layer/s4.yaml",
        "K": f"{S4_REPO}@{c}:{kernel}",
        "P": f"{S4_REPO}@{c}:configs/pipeline/{S4_NAME[task]}.yaml",
        "O": f"{S4_REPO}@{c}:configs/optimizer/adamw.yaml (betas, eps: torch.optim.AdamW defaults)",
        "C": f"{S4_REPO}@{c}:configs/scheduler/cosine_warmup.yaml",
        "T": f"{S4_REPO}@{c}:configs/trainer/default.yaml + configs/loader/default.yaml",
        "D": f"{S4_REPO}@{c}:configs/dataset/{dataset}.yaml + {code}",
        "G": f"{S4_REPO}@{c}:train.py (configure_optimizers) + configs/config.yaml",
        # The S4D switch: S4(mode='diag', measure='diag-inv') is S4D-Inv.
        "S": f"{S4_REPO}@{V3}:src/models/s4/README.md (\"S4D\")",
    }


# Per recipe and task: (value, key) for each field. Keys as in s4_sources; "E*" marks a value
# the experiment file gives in another form (comment at the entry).
#   epochs x train examples: trainer.max_epochs (E) x floor(train / batch) steps (loader
#   drop_last: True, T); one validation pass per epoch (Lightning's default, T).
#   n_ssm: ours 0 = one (A, B) per channel: the experiment's n_ssm = d_model (or null in V4, which
#   the kernel reads as H, K).
#   lr_dt / lr_ssm / lr_c: the layer's `lr` (E). A dict {dt: null, A: 0.001, B: 0.001} puts dt at
#   the global lr and A, B at 0.001, all with weight decay 0, and C (a plain parameter in V3; in
#   V4 registered with lr_dict['C'] = None) at the global lr and decay. A number (e.g. 0.001) puts
#   dt, A, B at it in V3 (C stays global) and dt, A, B and C at it in V4 (K).
#   pixel_norm: CIFAR grayscale Normalize(122.6/255, 61/255) (s4_cifar, src/dataloaders/basic.py);
#   Pathfinder/Path-X: V3 always applies Normalize(0.5, 0.5), i.e. [-1, 1] (center,
#   src/dataloaders/lra.py PathFinder.default_transforms); V4 only when dataset.center, which
#   configs/dataset/pathfinder.yaml sets False (unit, [0, 1]).
#   no_decay: V3 decays every parameter outside the SSM groups (train.py configure_optimizers
#   hooks only with train.optimizer_param_grouping, which V3's configs/config.yaml does not set:
#   none); V4 sets it (configs/config.yaml) for the backbone only (add_optimizer_hooks(self.model)
#   in train.py: backbone_biases_norms).
S4_RECIPES = {
    "v3": {
        "listops": dict(n_layers=8, d_model=128, prenorm=False, norm="batch", dropout=0.0,
                        d_state=64, n_ssm=0, lr_ssm=0.001, lr_dt=-1, lr_c=-1, dt_min=1e-3,
                        pool="mean", batch=50, lr=0.01, wd=0.05, sched=80000, warmup=("C", 1000),
                        epochs=40, train=96000, max_length=2048, encoding="s4_eos"),
        "text": dict(n_layers=6, d_model=256, prenorm=True, norm="batch", dropout=0.0,
                     d_state=64, n_ssm=0, lr_ssm=0.001, lr_dt=-1, lr_c=-1, dt_min=1e-3,
                     pool="mean", batch=16, lr=0.01, wd=0.05, sched=50000, warmup=("C", 1000),
                     epochs=32, train=25000, max_length=4096, encoding="s4_chars"),
        "retrieval": dict(n_layers=6, d_model=256, prenorm=True, norm="batch", dropout=0.0,
                          d_state=64, n_ssm=0, lr_ssm=0.001, lr_dt=-1, lr_c=-1, dt_min=1e-3,
                          pool="mean", batch=64, lr=0.01, wd=0.05, sched=50000, warmup=2500,
                          epochs=20, train=147086, max_length=4000, encoding="s4_chars"),
        "image": dict(n_layers=6, d_model=512, prenorm=False, norm="layer", dropout=0.1,
                      d_state=64, n_ssm=2, lr_ssm=0.001, lr_dt=-1, lr_c=-1, dt_min=1e-3,
                      pool="mean", batch=50, lr=0.01, wd=0.05, sched=200000, warmup=("C", 1000),
                      epochs=200, train=45000, pixel_norm="s4_cifar"),
        "pathfinder": dict(n_layers=6, d_model=256, prenorm=True, norm="batch", dropout=0.0,
                           d_state=64, n_ssm=0, lr_ssm=0.001, lr_dt=0.001, lr_c=-1, dt_min=1e-3,
                           pool="last", batch=64, lr=0.004, wd=0.03, sched=500000, warmup=2500,
                           epochs=200, train=160000, pixel_norm="center"),
        "pathx": dict(n_layers=6, d_model=256, prenorm=True, norm="batch", dropout=0.0,
                      d_state=64, n_ssm=0, lr_ssm=0.0005, lr_dt=0.0005, lr_c=-1, dt_min=1e-4,
                      pool="mean", batch=16, lr=0.0005, wd=0.05, sched=500000, warmup=10000,
                      epochs=50, train=160000, pixel_norm="center"),
    },
    "v4": {
        "listops": dict(n_layers=6, d_model=256, prenorm=False, norm="batch", dropout=0.0,
                        d_state=4, n_ssm=1, lr_ssm=0.001, lr_dt=-1, lr_c=-1, dt_min=1e-3,
                        pool="mean", batch=32, lr=0.01, wd=0.05, sched=120000, warmup=12000,
                        epochs=40, train=96000, max_length=2048, encoding="s4_eos"),
        "text": dict(n_layers=6, d_model=256, prenorm=True, norm="batch", dropout=0.0,
                     d_state=4, n_ssm=1, lr_ssm=0.001, lr_dt=-1, lr_c=-1, dt_min=1e-3,
                     pool="mean", batch=16, lr=0.01, wd=0.05, sched=50000, warmup=5000,
                     epochs=32, train=25000, max_length=4096, encoding="s4_chars"),
        "retrieval": dict(n_layers=6, d_model=256, prenorm=True, norm="batch", dropout=0.0,
                          d_state=4, n_ssm=1, lr_ssm=0.001, lr_dt=-1, lr_c=-1, dt_min=1e-3,
                          pool="mean", batch=64, lr=0.01, wd=0.05, sched=50000, warmup=5000,
                          epochs=20, train=147086, max_length=4000, encoding="s4_chars"),
        "image": dict(n_layers=6, d_model=512, prenorm=False, norm="batch", dropout=0.1,
                      d_state=64, n_ssm=1, lr_ssm=0.001, lr_dt=0.001, lr_c=0.001, dt_min=1e-3,
                      pool="mean", batch=50, lr=0.01, wd=0.05, sched=180000, warmup=18000,
                      epochs=200, train=45000, pixel_norm="s4_cifar"),
        "pathfinder": dict(n_layers=6, d_model=256, prenorm=True, norm="batch", dropout=0.0,
                           d_state=64, n_ssm=0, lr_ssm=0.001, lr_dt=0.001, lr_c=0.001,
                           dt_min=1e-3, pool="mean", batch=64, lr=0.004, wd=0.05, sched=500000,
                           warmup=50000, epochs=200, train=160000, pixel_norm="unit"),
        "pathx": dict(n_layers=6, d_model=256, prenorm=True, norm="batch", dropout=0.0,
                      d_state=64, n_ssm=0, lr_ssm=0.001, lr_dt=0.001, lr_c=0.001, dt_min=1e-4,
                      pool="mean", batch=16, lr=0.001, wd=0.05, sched=500000, warmup=50000,
                      epochs=50, train=160000, pixel_norm="unit"),
    },
}
# Fashion-MNIST is not an S4 task: the CIFAR recipe as is (same steps), with the plain [0, 1]
# pixels (the CIFAR statistics belong to CIFAR).
for _v in S4_RECIPES:
    S4_RECIPES[_v]["fashion_mnist"] = dict(S4_RECIPES[_v]["image"], pixel_norm="unit")
# The S4D row each s4d row sits beside: S4D-Inv of the S4D paper's LRA table (arXiv 2206.11893),
# i.e. the V3 recipe with mode=diag measure=diag-inv (state-spaces/s4@d589d98:
# src/models/s4/README.md, "S4D").
S4D_ROW = "S4D-Inv"
# Which recipe set each published row came from: the S4 (updated) row of S4 arXiv v3 (Tables 4
# and 10) and the S4D rows were run with the V3 repository.
S4_PAPER_SET = "v3"
# ---- Transformer paper: LRA.md section 1.8 (config-file rows, the reproduction target) ----
# drop / adrop: the table's "dropout / attn-drop" column (attention_dropout_rate on the
# attention probabilities).
#             layers emb heads qkv mlp  drop adrop pos        pool    lr     sched     warm  wd   batch steps  maxlen clip
TR_PAPER = {
    "listops":   (4, 512, 8, 512, 1024, 0.1, 0.1, "sinusoidal", "cls",   0.05, "lra_rsqrt", 1000, 0.1, 32, 5000, 2000, 0),
    "text":      (4, 256, 4, 256, 1024, 0.1, 0.1, "sinusoidal", "cls",   0.05, "lra_rsqrt", 8000, 0.1, 32, 20000, 1000, 0),
    "retrieval": (4, 128, 4, 128, 512,  0.1, 0.1, "sinusoidal", "first", 0.05, "lra_rsqrt", 8000, 0.1, 32, 5000, 4000, 0),
    "image":     (1, 128, 8, 64,  128,  0.3, 0.2, "learned",    "cls",   5e-4, "lra_cosine",175,  0.0, 256, 35000, 1024, 0),
    "pathfinder": (4, 32, 4, 16,  32,   0.2, 0.1, "sinusoidal", "mean",  1e-3, "lra_cosine",312,  0.0, 512, 62400, 1024, 0),
    "pathx":     (1, 32,  2, 16,  32,   0.1, 0.1, "learned",    "mean",  1e-3, "lra_cosine",2500, 0.0, 64, 500000, 16384, 1.0),
    "fashion_mnist": (1, 128, 8, 64, 128, 0.3, 0.2, "learned",  "cls",   5e-4, "lra_cosine",175,  0.0, 256, 35000, 784, 0),
}
TR_CITE = {
    "listops": "LRA.md 1.8, listops/configs/base_listops_config.py + transformer_base.py",
    "text": "LRA.md 1.8, text_classification/configs/base_tc_config.py (max_length 1000)",
    "retrieval": ("google-research/long-range-arena cd31e5c, lra_benchmarks/matching/configs/base_match_config.py"
                  " (pooling_mode CLS on towers built without a CLS row = position 0 of each); head:"
                  " models/layers/common_layers.py classifier_head_dual with interaction=None (concat)"),
    "image": "LRA.md 1.8, image/configs/cifar10/base_cifar10_config.py with heads 8 (issue #33)",
    "pathfinder": "LRA.md 1.8, image/configs/pathfinder32/base_pathfinder32_config.py",
    "pathx": "LRA.md 1.8, image/configs/pathfinder128 (Path-X) config, grad clip 1.0",
    "fashion_mnist": "no published LRA config (not an LRA task); the CIFAR-10 image config of LRA.md 1.8",
}


LRA_REPO = "google-research/long-range-arena@cd31e5c"
TR_CONFIG_DIR = {"listops": "listops/configs", "text": "text_classification/configs",
                 "retrieval": "matching/configs", "image": "image/configs/cifar10",
                 "pathfinder": "image/configs/pathfinder32", "pathx": "image/configs/pathfinder128",
                 "fashion_mnist": "image/configs/cifar10"}
TR_BASE = {"listops": "base_listops_config.py", "text": "base_tc_config.py",
           "retrieval": "base_match_config.py", "image": "base_cifar10_config.py",
           "pathfinder": "base_pathfinder32_config.py", "pathx": "base_pathfinder128_config.py",
           "fashion_mnist": "base_cifar10_config.py"}


def tr_recipe(task):
    """The LRA release config behind the published Transformer row (LRA Table 1)."""
    d = f"lra_benchmarks/{TR_CONFIG_DIR[task]}"
    r = f"{LRA_REPO}:{d}/transformer_base.py + {d}/{TR_BASE[task]}"
    return r + " (applied to Fashion-MNIST)" if task == "fashion_mnist" else r


def opt(lines, name, value):
    if isinstance(value, bool):
        value = "true" if value else "false"
    lines.append(f'model_option: "{name}={value}"')


# Small ListOps runs are 2,500 steps rather than 300 (measured: batch 16, ~15-18% majority class
# until step 500-750, then ~35%).
LISTOPS_SMALL_NOTE = ["# ListOps: 2,500 steps; every model sits at the majority class for its first 500-750",
                      "# steps, then jumps (README \"Does each model learn?\")."]


def small_schedule(task, steps):
    if task == "listops":
        return {"warmup_steps": 100, "eval_every": 250}
    return {"warmup_steps": steps // 10, "eval_every": steps // 3}


def train_block(d):
    out = ["train {"]
    for k, v in d.items():
        if isinstance(v, str):
            out.append(f'  {k}: "{v}"')
        else:
            out.append(f"  {k}: {v}")
    out.append("}")
    return out


def s4_recipe_file(model, task, version):
    nplr = model == "s4"
    r = S4_RECIPES[version][task]
    src = s4_sources(version, task)
    out = []  # (line, key)

    def o(name, value, key):
        if isinstance(value, bool):
            value = "true" if value else "false"
        out.append((f'model_option: "{name}={value}"', key))

    def val(v):
        return v if isinstance(v, tuple) else ("E", v)

    vname = version.upper()
    head = [f"# {model} x {task}: the {vname} recipe of state-spaces/s4 (recipe set `{version}`)."]
    if task == "fashion_mnist":
        head.append("# Not an S4 task: the CIFAR recipe as is, with [0, 1] pixels (pixel_norm=unit).")
    if not nplr:
        head.append("# S4D: the same recipe with the diagonal layer (mode=diag), init diag-inv (S4D-Inv).")
    head.append("# Keys after each value: the file it comes from (every value is the effective one).")
    for k, v in src.items():
        if k != "S" or not nplr:
            head.append(f"#   {k}  {v}")
    recipe = src["E"] if task != "fashion_mnist" else src["E"] + " (applied to Fashion-MNIST)"
    out.append((f'recipe: "{recipe}"', "E"))
    out.append((f'task: "{task}"', ""))
    out.append((f'model: "{model}"', ""))
    pixel = task in PIXEL
    if pixel:
        # S4 feeds pixels to a Linear encoder and never masks (P: encoder linear).
        out.append(('encoding: "nomask"', "P"))
    else:
        out.append((f'encoding: "{r["encoding"]}"', "D"))
        out.append((f"max_length: {r['max_length']}", "D"))
    o("block_version", version, "K")
    o("n_layers", r["n_layers"], "E")
    o("d_model", r["d_model"], "E")
    o("d_state", r["d_state"], "E")
    o("n_ssm", r["n_ssm"], "E")
    o("bidirectional", True, "E")
    o("norm", r["norm"], "E")
    o("prenorm", r["prenorm"], "E")
    o("dropout", r["dropout"], "E")
    o("tie_dropout", True, "M")
    o("glu", True, "L")
    # dt: V3 stores log(dt) (K: register("log_dt")); V4 uses dt_transform softplus (L).
    o("dt_transform", "exp" if version == "v3" else "softplus", "K" if version == "v3" else "L")
    o("dt_min", r["dt_min"], "E")
    o("dt_max", 0.1, "E")
    o("pool", r["pool"], "E" if r["pool"] == "last" or task in ("listops", "text") else "P")
    o("lr_ssm", r["lr_ssm"], "E")
    o("lr_dt", r["lr_dt"], "E")
    o("lr_c", r["lr_c"], "K")
    if pixel:
        o("pixel_norm", r["pixel_norm"], "D")
    o("no_decay", "none" if version == "v3" else "backbone_biases_norms", "G")
    if not nplr:
        o("init", "inv", "S")
        # The diagonal kernel's default discretization: V3 SSKernelDiag(disc='bilinear'),
        # V4 SSMKernelDiag(disc='zoh') (K).
        o("disc", "bilinear" if version == "v3" else "zoh", "K")
    steps = r["epochs"] * (r["train"] // r["batch"])
    warm_key, warm = val(r["warmup"])
    train = [("batch_size", r["batch"], "E"), ("steps", steps, "E,T,D"),
             ("optimizer", '"adamw"', "O"), ("lr", r["lr"], "E"), ("weight_decay", r["wd"], "E"),
             ("beta1", 0.9, "O"), ("beta2", 0.999, "O"), ("eps", 1e-8, "O"),
             ("schedule", '"cosine"', "E"), ("warmup_steps", warm, warm_key),
             ("schedule_steps", r["sched"], "E"), ("grad_clip", 0, "T"),
             ("eval_every", r["train"] // r["batch"], "T,D")]
    body = [(l, k) for l, k in out]
    body.append(("train {", ""))
    for name, v, k in train:
        body.append((f"  {name}: {v}", k))
    body.append(("}", ""))
    width = max(len(l) for l, _ in body)
    lines = list(head)
    lines.append(f"# steps = trainer.max_epochs {r['epochs']} x floor({r['train']} train examples / "
                 f"batch {r['batch']}) (E, T, D);")
    lines.append("# the cosine runs over scheduler.num_training_steps (schedule_steps, E).")
    for l, k in body:
        lines.append(f"{l.ljust(width)}  # {k}" if k else l)
    return lines


def s4_file(model, task, tier):
    nplr = model == "s4"
    pixel = task in PIXEL
    lines = []
    encoding = "nomask" if pixel else ("s4_eos" if task == "listops" else "")
    if tier == "paper":
        lines.append(f"# {model} x {task}, paper tier: the recipe behind the published row it sits beside")
        if nplr:
            lines.append("# (S4 (updated), S4 arXiv 2111.00396v3 Tables 4 and 10), i.e. the V3 recipe set.")
        else:
            lines.append(f"# ({S4D_ROW}, S4D arXiv 2206.11893 LRA table), i.e. the V3 recipe set with the diagonal layer.")
        lines.append(f'task: "{task}"')
        lines.append(f'model: "{model}"')
        lines.append(f'use_tier: "{S4_PAPER_SET}"')
        return lines
    if tier in S4_RECIPES:
        return s4_recipe_file(model, task, tier)
    if tier == "small":
        lines.append(f"# {model} x {task}, small tier: CPU-sized (minutes on 2 cores). Same block as the")
        lines.append("# paper config (bidirectional, BatchNorm, GLU, SSM lr groups), narrower and shorter.")
        lines.append(f'task: "{task}"')
        lines.append(f'model: "{model}"')
        if encoding:
            lines.append(f'encoding: "{encoding}"')
        max_len = {"listops": 1000, "text": 1024, "retrieval": 1000}.get(task, 0)
        if max_len:
            lines.append(f"max_length: {max_len}")
        for k, v in [("n_layers", 2), ("d_model", 64), ("d_state", 4 if task in ("listops", "text", "retrieval") else 64),
                     ("bidirectional", True), ("norm", "batch"), ("prenorm", task not in ("listops", "image", "fashion_mnist")),
                     ("dt_transform", "softplus"), ("dt_min", 1e-4 if task == "pathx" else 1e-3)]:
            opt(lines, k, v)
        if not nplr:
            opt(lines, "init", "inv")
        if task == "listops":
            lines += LISTOPS_SMALL_NOTE
        steps = {"pathx": 150, "listops": 2500}.get(task, 300)
        batch = 8 if task == "pathx" else 16
        lines += train_block({"batch_size": batch, "steps": steps, "lr": 0.01 if task != "pathx" else 0.002,
                              **small_schedule(task, steps),
                              "train_examples": 20000, "eval_examples": 500,
                              "max_minutes": 20 if task == "listops" else 10})
    else:
        lines.append(f"# {model} x {task}, smoke tier: seconds; proves the path end to end.")
        lines.append(f'task: "{task}"')
        lines.append(f'model: "{model}"')
        if encoding:
            lines.append(f'encoding: "{encoding}"')
        if task in ("listops", "text", "retrieval"):
            lines.append("max_length: 256")
        for k, v in [("n_layers", 1), ("d_model", 16), ("d_state", 8), ("bidirectional", True),
                     ("norm", "batch")]:
            opt(lines, k, v)
        lines += train_block({"batch_size": 4 if task == "pathx" else 8, "steps": 20, "lr": 0.01,
                              "train_examples": 64, "eval_examples": 32})
    return lines


def transformer_file(task, tier):
    lines = []
    pixel = task in PIXEL
    if tier == "paper":
        (L, E, heads, qkv, mlp, drop, adrop, pos, pool, lr, sched, warm, wd, batch, steps, maxlen,
         clip) = TR_PAPER[task]
        lines.append(f"# transformer x {task}, published config: {TR_CITE[task]}.")
        lines.append("# LRA's flax Adam: beta2 0.98, eps 1e-9, decoupled decay on every parameter.")
        if pixel:
            lines.append("# The lra encoding: black pixels (token 0) are masked queries and keys, as LRA's `inputs > 0`")
            lines.append("# mask (google-research/long-range-arena cd31e5c, lra_benchmarks/models/transformer/transformer.py);")
            lines.append("# the CLS row copies the first pixel's mask.")
        if sched == "lra_cosine":
            lines.append("# LRA's 'constant * linear_warmup * cosine_decay' with steps_per_cycle = num_train_steps")
            lines.append("# (google-research/long-range-arena cd31e5c, lra_benchmarks/utils/train_utils.py")
            lines.append("# create_learning_rate_scheduler; image/configs/*/base_*_config.py): progress divides by")
            lines.append("# the whole cycle, not steps - warmup.")
        lines.append(f'recipe: "{tr_recipe(task)}"')
        lines.append(f'task: "{task}"')
        lines.append('model: "transformer"')
        if pixel:
            lines.append('encoding: "lra"')
        lines.append(f"max_length: {maxlen}")
        for k, v in [("n_layers", L), ("d_model", E), ("heads", heads), ("qkv_dim", qkv),
                     ("mlp_dim", mlp), ("dropout", drop), ("attention_dropout", adrop),
                     ("positions", pos),
                     ("cls", pool == "cls"), ("pool", pool), ("head", "mlp"),
                     ("attention", "blocked" if task == "pathx" else "dense")]:
            opt(lines, k, v)
        if task == "retrieval":
            # The released code's head (the published 57.46); retrieval_head=nli is the paper's.
            opt(lines, "retrieval_head", "lra")
        t = {"batch_size": batch, "steps": steps, "optimizer": "adamw", "lr": lr,
             "weight_decay": wd, "beta1": 0.9, "beta2": 0.98, "eps": 1e-9, "schedule": sched,
             "warmup_steps": warm, "eval_every": 1000}
        if clip:
            t["grad_clip"] = clip
        lines += train_block(t)
    elif tier == "small":
        lines.append(f"# transformer x {task}, small tier: CPU-sized (minutes on 2 cores); LRA block, narrower.")
        lines.append("# attention_dropout 0 (LRA 0.1-0.2): a 300-step run is far from overfitting, and the")
        lines.append("# dropout mask costs one Philox draw per attention probability, in forward and in backward.")
        if pixel:
            lines.append("# The lra encoding: black pixels are masked queries and keys, as LRA's `inputs > 0` mask.")
        lines.append(f'task: "{task}"')
        lines.append('model: "transformer"')
        if pixel:
            lines.append('encoding: "lra"')
        max_len = {"listops": 1000, "text": 1000, "retrieval": 1000}.get(task, 0)
        if max_len:
            lines.append(f"max_length: {max_len}")
        pool = {"retrieval": "first", "pathfinder": "mean", "pathx": "mean"}.get(task, "cls")
        for k, v in [("n_layers", 2), ("d_model", 64), ("heads", 4), ("mlp_dim", 128),
                     ("dropout", 0.1), ("cls", pool == "cls"), ("pool", pool),
                     ("attention", "blocked" if task == "pathx" else "dense")]:
            opt(lines, k, v)
        if task == "listops":
            lines += LISTOPS_SMALL_NOTE
        steps = {"pathx": 50, "listops": 2500}.get(task, 300)
        lines += train_block({"batch_size": 2 if task == "pathx" else 16, "steps": steps,
                              "lr": 0.001, "beta2": 0.98, "schedule": "cosine",
                              **small_schedule(task, steps),
                              "train_examples": 20000, "eval_examples": 500,
                              "max_minutes": 20 if task == "listops" else 10})
    else:
        lines.append(f"# transformer x {task}, smoke tier: seconds; proves the path end to end (with")
        lines.append("# attention dropout, and for pixels the lra encoding's pad-token mask).")
        lines.append(f'task: "{task}"')
        lines.append('model: "transformer"')
        if pixel:
            lines.append('encoding: "lra"')
        if task in ("listops", "text", "retrieval"):
            lines.append("max_length: 256")
        pool = {"retrieval": "first", "pathfinder": "mean", "pathx": "mean"}.get(task, "cls")
        for k, v in [("n_layers", 1), ("d_model", 16), ("heads", 2), ("mlp_dim", 32),
                     ("attention_dropout", 0.1), ("cls", pool == "cls"), ("pool", pool),
                     ("attention", "blocked" if task == "pathx" else "dense")]:
            opt(lines, k, v)
        lines += train_block({"batch_size": 2 if task == "pathx" else 8, "steps": 20,
                              "lr": 0.003, "train_examples": 64, "eval_examples": 32})
    return lines


def bag_file(task, tier):
    lines = [f"# bag x {task}, {tier} tier. No published config: the baseline is sized per tier only"]
    lines.append("# (a bag of tokens has no length-dependent cost).")
    lines.append(f'task: "{task}"')
    lines.append('model: "bag"')
    if task in PIXEL:
        lines.append('encoding: "nomask"')
    if tier == "smoke":
        opt(lines, "d_model", 16)
        opt(lines, "mlp_dim", 32)
        lines += train_block({"steps": 20, "train_examples": 64, "eval_examples": 32})
    elif tier == "small":
        opt(lines, "d_model", 64)
        opt(lines, "mlp_dim", 128)
        lines += train_block({"batch_size": 32, "steps": 600, "lr": 0.003,
                              "train_examples": 20000, "eval_examples": 1000})
    else:
        opt(lines, "d_model", 256)
        opt(lines, "mlp_dim", 512)
        lines += train_block({"batch_size": 32, "steps": 20000, "lr": 0.001,
                              "weight_decay": 0.01, "schedule": "cosine", "warmup_steps": 1000,
                              "eval_every": 1000})
    return lines


def main():
    for tier in ["paper", "small", "smoke", "v3", "v4"]:
        for task in TASKS:
            files = {
                "s4d": s4_file("s4d", task, tier),
                "s4": s4_file("s4", task, tier),
            }
            if tier not in S4_RECIPES:
                files["transformer"] = transformer_file(task, tier)
                files["bag"] = bag_file(task, tier)
            for model, lines in files.items():
                d = os.path.join(ROOT, model, "configs")
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, f"{task}.{tier}.textproto"), "w") as f:
                    f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
