"""experiments/bench.md from the stored results: figures formatted here, prose in templates/*.md.

A template line whose placeholders got no value (a figure not measured yet) is left out.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

TEMPLATES = Path(__file__).resolve().parent / "templates"
UNFILLED = re.compile(r"\$(\{[_a-z][_a-z0-9]*\}|[_a-z][_a-z0-9]*)", re.IGNORECASE)
GOALS = {
    "overhead_cnn_rnn": 0.97,
    "overhead_rnn": 0.97,
    "fixed_us": 50,
    "compute": 0.30,
    "eval": 3,
    "startup": 3,
    "predict": 1.5,
    "data": 5,
}


def fill(name: str, values: dict) -> str:
    """templates/NAME.md with the values substituted; lines left with a placeholder are dropped."""
    text = Template((TEMPLATES / f"{name}.md").read_text()).safe_substitute(values)
    return "\n".join(line for line in text.splitlines() if not UNFILLED.search(line)).strip("\n")


def fmt(s: dict, digits: int = 0) -> str:
    """A spread as `median [min-max]`."""
    return f"{s['median']:,.{digits}f} [{s['min']:,.{digits}f}-{s['max']:,.{digits}f}]"


def cond(r: dict) -> str:
    """The conditions a measurement was made under, in words."""
    c = r.get("conditions", {})
    return f"measured {c.get('date')}, {c.get('cores')} cores, load {c.get('load_1min')} (1 min) at the end, torch {c.get('torch')}"


def met(ok: bool) -> str:
    """Bold met / not met."""
    return "**met**" if ok else "**not met**"


def overhead(ov: dict, targets: dict) -> str:
    """The overhead part; its two targets into `targets`."""
    rows, conds = [], []
    for model, r in ov.items():
        if "us_per_step" not in r:  # stored before the per-step columns
            continue
        for k, s in r["samples_per_s"].items():
            rows.append(
                f"| {model} | {k} | {fmt(s)} | {fmt(r['us_per_step'][k])} | {fmt(r['us_over_bare'][k])} | "
                f"{fmt(r['ratio_to_bare'][k], 2)} | {fmt(r['ratio_to_plain'][k], 2)} |"
            )
        conds.append(f"- {model}: {cond(r)}; {r['steps']} timed steps after {r['warm_steps']}.")
        if f"overhead_{model}" in GOALS:
            x, goal = r["ratio_to_bare"]["ours"]["median"], GOALS[f"overhead_{model}"]
            targets |= {f"overhead_{model}": f"{x:.3f}", f"overhead_{model}_met": met(x >= goal)}
        if model == "one_parameter":
            us = {k: r["us_per_step"][k]["median"] for k in ("plain", "bare_lightning", "ours")}
            extra = r["us_over_bare"]["ours"]["median"]
            targets |= {"fixed_plain": f"{us['plain']:.0f}", "fixed_bare": f"{us['bare_lightning']:.0f}"}
            targets |= {"fixed_ours": f"{us['ours']:.0f}", "fixed_extra": f"{extra:+.0f}"}
            targets["fixed_met"] = met(extra <= GOALS["fixed_us"])
    return fill("overhead", {"rows": "\n".join(rows), "conditions": "\n".join(conds)})


def compute(cp: dict, results: dict, targets: dict) -> str:
    """The compute part; the framework's share of the matmul peak (from overhead) into `targets`."""
    rows = []
    for name, v in cp["variants"].items():
        if v.get("failed"):
            rows.append(f"| {name} | failed | | |")
            continue
        extra = f" (compile {v['compile_seconds']:.0f} s)" if "compile_seconds" in v else ""
        rows.append(f"| {name}{extra} | {fmt(v['samples_per_s'])} | {v['gflops']:.1f} | {v['of_peak']:.0%} |")
    f = cp["flops_per_sample"]
    peak = cp["matmul_peak_gflops"]["median"]
    ours = results.get("overhead", {}).get("cnn_rnn")
    if ours:
        gflops = ours["samples_per_s"]["ours"]["median"] * f["train"] / 1e9
        targets |= {
            "framework_gflops": f"{gflops:.1f}",
            "framework_of_peak": f"{gflops / peak:.0%}",
            "peak": f"{peak:.0f}",
            "compute_met": met(gflops / peak >= GOALS["compute"]),
        }
    counts = {k: f"{f.get(k, 0):,}" for k in ("conv_fwd", "lstm_fwd", "head_fwd", "forward", "train")}
    counts |= {k: f"{f.get(k, 0):,}" for k in ("flop_counter_without_lstm", "hand_without_lstm")}
    values = {**counts, "peak": fmt(cp["matmul_peak_gflops"], 1), "rows": "\n".join(rows), "conditions": cond(cp)}
    return fill("compute", values)


def evaluation(ev: dict, targets: dict) -> str:
    """The evaluation part; its target into `targets`."""
    x = ev["ratio"]["median"]
    targets |= {"eval_ratio": f"{x:.2f}", "eval_met": met(x >= GOALS["eval"])}
    values = {
        "test_images": f"{ev['test_images']:,}",
        "test": fmt(ev["test_images_per_s"]),
        "train": fmt(ev["train_samples_per_s"]),
        "ratio": fmt(ev["ratio"], 2),
        "test_seconds": fmt(ev["test_seconds"], 1),
        "conditions": cond(ev),
    }
    return fill("eval", values)


def startup(st: dict, targets: dict) -> str:
    """The start-up part; its target into `targets`."""
    x = st["first_step_seconds"]["median"]
    targets |= {"first_step": f"{x:.2f}", "startup_met": met(x <= GOALS["startup"])}
    imports = st.get("import_seconds", {})
    values = {
        "first_step": fmt(st["first_step_seconds"], 2),
        "total": fmt(st["total_seconds"], 2),
        "conditions": cond(st),
        "imports": ", ".join(f"`{k}` {fmt(v, 2)}" for k, v in imports.items()),
    }
    if "predict_seconds" in st:
        p = st["predict_seconds"]["median"]
        values["predict"] = fmt(st["predict_seconds"], 2)
        targets |= {"predict": f"{p:.2f}", "predict_met": met(p <= GOALS["predict"])}
    return fill("startup", values)


def tta(tt: dict, targets: dict) -> str:
    """The time-to-accuracy part; one target row per model into `targets`."""
    rows, goals = [], []
    for m, r in tt.items():
        rows.append(
            f"| {m} | `{r['command']}` | {r['epochs']} | {r['fit_seconds']:.1f} | {r['test_acc']:.4f} | "
            f">= {r['target_acc']:.3f} in <= {r['budget_seconds']} s: {met(r['met'])} |"
        )
        goals.append(
            f"| time to accuracy {m} >= {r['target_acc']:.1%} in <= {r['budget_seconds']} s | "
            f"{r['test_acc']:.2%} in {r['fit_seconds']:.0f} s | {met(r['met'])} | `{r['command']}` |"
        )
    targets["tta_rows"] = "\n".join(goals)
    conds = "\n".join(f"- {m}: {cond(r)}." for m, r in tt.items())
    return fill("tta", {"rows": "\n".join(rows), "conditions": conds})


def data(da: dict, targets: dict) -> str:
    """The data part; its target into `targets`."""
    w, x = da["workers"], da["ratio_1_process"]["median"]
    ratio_all = da["ratio_all_processes"]["median"]
    targets |= {"data_ratio": f"{x:.1f}", "data_ratio_all": f"{ratio_all:.1f}", "workers": w}
    targets["data_met"] = met(x >= GOALS["data"])
    values = {
        "images": f"{da['images']:,}",
        "naive": fmt(da["naive_images_per_s"]),
        "builder_1": fmt(da["builder_1_process"]),
        "ratio_1": fmt(da["ratio_1_process"], 1),
        "builder_all": fmt(da[f"builder_{w}_processes"]),
        "ratio_all": fmt(da["ratio_all_processes"], 1),
        "workers": w,
        "conditions": cond(da),
    }
    return fill("data", values)


def findings(results: dict) -> str:
    """Where the time goes (from the overhead variants) and what was changed or tried."""
    lines = []
    for model, r in results.get("overhead", {}).items():
        if "us_per_step" not in r:
            continue
        us = {k: v["median"] for k, v in r["us_per_step"].items()}  # microseconds per step of 128
        diff = {
            "lightning": us["bare_lightning"] - us["plain"],
            "module": us["ours_lean"] - us["bare_lightning"],
            "callbacks": us["ours_no_bar"] - us["ours_lean"],
            "bar": us["ours"] - us["ours_no_bar"],
        }
        values = {"model": model, "plain": f"{us['plain']:.0f}", "ours": f"{us['ours']:.0f}"}
        lines.append(fill("findings_model", values | {k: f"{v:+.0f}" for k, v in diff.items()}))
    values = {"overhead_lines": "\n".join(lines)}
    v = results.get("compute", {}).get("cnn_rnn", {}).get("variants", {})
    base = v.get("batch 128", {}).get("samples_per_s", {}).get("median")
    if base:
        others = {k: x for k, x in v.items() if k != "batch 128" and not x.get("failed")}
        values["compute_ratios"] = ", ".join(
            f"{k} {x['samples_per_s']['median'] / base:.2f}x" for k, x in others.items()
        )
    return fill("findings", values)


def render(results: dict) -> str:
    """The whole page: header, targets, one part per measured section, findings."""
    targets: dict = {f"{k}_goal": f"{v:.2f}" for k, v in GOALS.items() if k.startswith("overhead")}
    targets |= {"compute_goal": f"{GOALS['compute']:.0%}", "eval_goal": GOALS["eval"]}
    targets |= {"startup_goal": GOALS["startup"], "predict_goal": GOALS["predict"], "data_goal": GOALS["data"]}
    targets["fixed_goal"] = GOALS["fixed_us"]
    parts = []
    if results.get("overhead"):
        parts.append(overhead(results["overhead"], targets))
    if cp := results.get("compute", {}).get("cnn_rnn"):
        parts.append(compute(cp, results, targets))
    if ev := results.get("eval", {}).get("cnn_rnn"):
        parts.append(evaluation(ev, targets))
    if st := results.get("startup", {}).get("trainer=debug"):
        parts.append(startup(st, targets))
    if results.get("tta"):
        parts.append(tta(results["tta"], targets))
    if da := results.get("data", {}).get("var_jitter"):
        parts.append(data(da, targets))
    page = [fill("header", {}), fill("targets", targets), *parts, findings(results)]
    return "\n\n".join(page) + "\n"
