#!/usr/bin/env python3
"""Results of Benchmarks/sparsity.sh (standard library only, so it runs wherever the suite does).
  sparsity.py run DIR E SEED STEPS BATCH
      reads one run's files, writes DIR/result.json and one progress line on stderr;
  sparsity.py summary ROOT SVG
      every ROOT/e*-s*/result.json: a table on stderr, one JSON object on stdout, and SVG: held-out
      loss and accuracy (greedy, and forced to work it out) against total parameters (log2 axis),
      one point per E."""
import glob, json, math, os, re, statistics, sys
from xml.sax.saxutils import escape

# The final training loss is a mean over this many last steps: one step's loss is one batch of
# 32 demonstrations, noisy enough to reorder close runs.
LAST_STEPS = 50


def run(folder, experts, seed, steps, batch):
    init = open(os.path.join(folder, "init.txt")).read()
    m = re.search(r"(\d+) parameters \((\d+) active per token\)", init)
    if not m:
        sys.exit(f"{folder}/init.txt: no parameter counts in {init!r}")
    log = [json.loads(line) for line in open(os.path.join(folder, "sft.jsonl")) if line.startswith("{")]
    if not log or log[-1]["step"] != int(steps):
        sys.exit(f"{folder}/sft.jsonl: the run did not reach step {steps}")
    held = json.load(open(os.path.join(folder, "heldout.json")))
    ev = json.load(open(os.path.join(folder, "eval.json")))
    worked = json.load(open(os.path.join(folder, "eval-worked.json")))
    seconds = int(open(os.path.join(folder, "sft.ms")).read()) / 1000
    result = {
        "experts": int(experts), "seed": int(seed), "steps": int(steps), "batch": int(batch),
        "total_params": int(m.group(1)), "active_params": int(m.group(2)),
        "heldout_loss": held["loss"],
        "accuracy": ev["accuracy"], "rule_pass_rates": ev["rule_pass_rates"], "mean_length": ev["mean_length"],
        "test_tasks": ev["tasks"],
        "accuracy_worked": worked["accuracy"], "mean_length_worked": worked["mean_length"],
        "train_loss_last": statistics.fmean(r["loss"] for r in log[-LAST_STEPS:]), "train_loss_last_steps": LAST_STEPS,
        "expert_imbalance": log[-1]["expertImbalance"],
        # Wall time includes start-up and the final save; the trainer's own figure is the steps alone.
        "sft_seconds": round(seconds, 2), "seconds_per_step": seconds / int(steps),
        "trainer_seconds_per_step": log[-1]["secondsPerStep"],
    }
    with open(os.path.join(folder, "result.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(f"sparsity: E={experts} seed {seed}: held-out loss {result['heldout_loss']:.4f}, "
          f"accuracy {result['accuracy']:.3f} (worked {result['accuracy_worked']:.3f}), "
          f"train loss {result['train_loss_last']:.4f}, "
          f"{result['seconds_per_step']:.3f} s/step ({seconds:.0f} s)", file=sys.stderr)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def summary(root, svg_path):
    results = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(root, "e*-s*", "result.json")))]
    if not results:
        sys.exit(f"{root}: no finished runs")
    rows = []
    for e in sorted({r["experts"] for r in results}):
        runs = sorted((r for r in results if r["experts"] == e), key=lambda r: r["seed"])
        row = {"experts": e, "total_params": runs[0]["total_params"], "active_params": runs[0]["active_params"],
               "seeds": [r["seed"] for r in runs]}
        for key in ("heldout_loss", "accuracy", "accuracy_worked", "train_loss_last", "seconds_per_step",
                    "expert_imbalance"):
            row[key] = statistics.fmean(r[key] for r in runs)
            row[key + "_each"] = [r[key] for r in runs]
        rows.append(row)
    first = results[0]
    # sparsity.sh writes the held-out demonstrations beside the folders of the step counts.
    held = os.path.join(os.path.dirname(os.path.normpath(root)), "heldout", "heldout.jsonl")
    out = {"steps": first["steps"], "batch": first["batch"], "learning_rate": 2e-3, "warmup_steps": 10,
           "task_set": "arith", "test_tasks": first["test_tasks"],
           "heldout_examples": sum(1 for _ in open(held)) if os.path.exists(held) else None, "cpu": cpu_name(),
           "train_loss_last_steps": LAST_STEPS, "rows": rows, "plot": svg_path}
    print(f"{first['steps']} steps of {first['batch']}; held-out loss on the held-out demonstrations; accuracy "
          f"greedy on arith test ({first['test_tasks']} tasks), plain and forced to work it out; "
          f"means over the seeds listed", file=sys.stderr)
    print(f"{'E':>3} {'total':>11} {'active':>10} {'seeds':>6} {'held-out loss':>14} {'accuracy':>9} "
          f"{'worked':>7} {'train loss':>11} {'s/step':>7}", file=sys.stderr)
    for r in rows:
        print(f"{r['experts']:3d} {r['total_params']:11,d} {r['active_params']:10,d} "
              f"{','.join(map(str, r['seeds'])):>6} {r['heldout_loss']:14.4f} {r['accuracy']:9.3f} "
              f"{r['accuracy_worked']:7.3f} {r['train_loss_last']:11.4f} {r['seconds_per_step']:7.3f}",
              file=sys.stderr)
    with open(svg_path, "w") as f:
        f.write(plot(rows, f"{first['steps']} SFT steps of {first['batch']} on arith, 2 routed experts a token"))
    print(json.dumps(out))


def nice_ticks(lo, hi, count=5):
    """Round tick values covering [lo, hi]: 1, 2 or 5 times a power of ten apart."""
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(s * mag for s in (1, 2, 5, 10) if s * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 10))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 10))
    return ticks, step


def millions(n):
    return f"{n / 1e6:.1f}M"


COLOURS = ("#1f77b4", "#d62728")


def panel(rows, series, label, bounds, x0, y0, w, h):
    """One chart as SVG elements: each (key, name) of `series` (mean over seeds, each seed as a
    ring) against log2(total parameters), every point labelled with its E; the y axis stays inside
    `bounds` (a loss below 0 or an accuracy above 1 would only be padding)."""
    xs = [math.log2(r["total_params"]) for r in rows]
    values = [v for key, _ in series for r in rows for v in r[key + "_each"]]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.15 or abs(hi) * 0.1 or 0.1
    yt, step = nice_ticks(max(bounds[0], lo - pad), min(bounds[1], hi + pad))
    yt = [t for t in yt if bounds[0] - 1e-9 <= t <= bounds[1] + 1e-9]
    ylo, yhi = yt[0], yt[-1]
    xlo, xhi = min(xs) - 0.4, max(xs) + 0.4
    px = lambda x: x0 + (x - xlo) / (xhi - xlo) * w
    py = lambda y: y0 + h - (y - ylo) / (yhi - ylo) * h
    decimals = max(0, -math.floor(math.log10(step)))
    out = []
    for t in yt:
        out.append(f'<line x1="{x0:.2f}" y1="{py(t):.2f}" x2="{x0 + w:.2f}" y2="{py(t):.2f}" stroke="#e5e5e5"/>')
        out.append(f'<line x1="{x0 - 5:.2f}" y1="{py(t):.2f}" x2="{x0:.2f}" y2="{py(t):.2f}" stroke="black"/>')
        out.append(f'<text x="{x0 - 8:.2f}" y="{py(t) + 4:.2f}" text-anchor="end">{t:.{decimals}f}</text>')
    # Ticks at whole powers of two, so that equal distances read as equal ratios of parameters.
    for p in range(math.ceil(xlo), math.floor(xhi) + 1):
        out.append(f'<line x1="{px(p):.2f}" y1="{y0:.2f}" x2="{px(p):.2f}" y2="{y0 + h:.2f}" stroke="#e5e5e5"/>')
        out.append(f'<line x1="{px(p):.2f}" y1="{y0 + h:.2f}" x2="{px(p):.2f}" y2="{y0 + h + 5:.2f}" stroke="black"/>')
        out.append(f'<text x="{px(p):.2f}" y="{y0 + h + 19:.2f}" text-anchor="middle">'
                   f'2<tspan dy="-6" font-size="9">{p}</tspan><tspan dy="6"> ({millions(2 ** p)})</tspan></text>')
    out.append(f'<rect x="{x0:.2f}" y="{y0:.2f}" width="{w:.2f}" height="{h:.2f}" fill="none" stroke="black"/>')
    out.append(f'<text x="{x0 + w / 2:.2f}" y="{y0 - 12:.2f}" text-anchor="middle" font-size="13">{label}</text>')
    out.append(f'<text x="{x0 + w / 2:.2f}" y="{y0 + h + 40:.2f}" text-anchor="middle">'
               f'total parameters (log2)</text>')
    for i, (key, name) in enumerate(series):
        c = COLOURS[i]
        points = " ".join(f"{px(x):.2f},{py(r[key]):.2f}" for x, r in zip(xs, rows))
        out.append(f'<polyline points="{points}" fill="none" stroke="{c}" stroke-width="2"/>')
        for x, r in zip(xs, rows):
            if len(r[key + "_each"]) > 1:
                for v in r[key + "_each"]:
                    out.append(f'<circle cx="{px(x):.2f}" cy="{py(v):.2f}" r="3" fill="none" stroke="{c}"/>')
            out.append(f'<circle cx="{px(x):.2f}" cy="{py(r[key]):.2f}" r="4.5" fill="{c}"/>')
            # Beside the point, not above it, where the rings of the seeds may sit.
            ly = py(r[key]) - 6 if py(r[key]) - 6 > y0 + 14 else py(r[key]) + 16
            out.append(f'<text x="{px(x) + 9:.2f}" y="{ly:.2f}">E={r["experts"]}</text>')
        if name:
            ky = y0 + h + 58 + 16 * i
            out.append(f'<line x1="{x0:.2f}" y1="{ky - 4:.2f}" x2="{x0 + 24:.2f}" y2="{ky - 4:.2f}" '
                       f'stroke="{c}" stroke-width="2"/>')
            out.append(f'<text x="{x0 + 30:.2f}" y="{ky:.2f}">{escape(name)}</text>')
    return out


def plot(rows, title):
    width, height = 860, 470
    body = [f'<text x="{width / 2:.2f}" y="24.00" text-anchor="middle" font-size="15">'
            f'Total experts at fixed active parameters: {title}</text>']
    body += panel(rows, [("heldout_loss", None)], "held-out loss (nats a token)", (0, math.inf), 70, 64, 330, 280)
    body += panel(rows, [("accuracy_worked", "greedy, forced to start working it out (<think>\\n)"),
                         ("accuracy", "greedy (answers at once)")],
                  "accuracy on the test split", (0, 1), 500, 64, 330, 280)
    if any(len(r["seeds"]) > 1 for r in rows):
        body.append(f'<text x="{width / 2:.2f}" y="{height - 8:.2f}" text-anchor="middle" fill="#555">'
                    f'filled: mean over seeds; rings: each seed</text>')
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">\n'
            '<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n")


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "run":
        run(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "summary":
        summary(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
