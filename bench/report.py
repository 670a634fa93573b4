#!/usr/bin/env python3
"""report: turn the benchmark samples into the table, the JSON and the chart.

  bench/report.py RAW OUTDIR --meta META.json

RAW holds one JSON line per sample ({"size","run","key","ccfs"|"peer"}) or
note ({"note"}), as bench/lib.sh writes them; META says what ran (sizes,
files, bytes, runs per size, seconds taken). Writes OUTDIR/table.txt,
OUTDIR/results.json and, when gnuplot is there, OUTDIR/chart.png (with the
chart.dat and chart.gp it came from). The ratio is always ccfs / peer; the
target says which side of it is good. Medians over the runs.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

LE, GE = "<=", ">="

# id, figure, unit, ccfs key, peer key, peer, target (op, value) on the ratio or
# (for "abs") on the ccfs value itself, sizes the target is stated for (None: all),
# and whether a bigger value is better (throughput) for the chart. A target may
# also be a dict of size -> target.
ROWS = [
    ("1", "mount -> first read", "s", "first_read", "first_read", "GET + tar xzf", (LE, 0.02), {"large"}, False),
    ("1", "mount -> first read", "s", "first_read", "first_read_archivemount", "GET + archivemount", None, None,
     False),
    ("2", "full hydration", "s", "hydrate", "hydrate", "curl | tar xz", (LE, 1.1), None, False),
    ("3", "warm sequential read", "MB/s", "warm_read_mbps", "warm_read_mbps", "local disk", (GE, 0.8), None, True),
    ("3", "warm grep -r transcripts", "MB/s", "grep_mbps", "grep_mbps", "local disk", (GE, 0.8), None, True),
    ("4", "O_APPEND 200B-10KiB p50", "us", "append_p50_us", "append_p50_us", "local disk", (LE, 2.0), None, False),
    ("4", "O_APPEND 200B-10KiB p99", "us", "append_p99_us", "append_p99_us", "local disk", (LE, 2.0), None, False),
    ("4", "open-write-close p50", "us", "small_p50_us", "small_p50_us", "local disk", (LE, 2.0), None, False),
    ("4", "open-write-close p99", "us", "small_p99_us", "small_p99_us", "local disk", (LE, 2.0), None, False),
    ("5", "flush 1 changed file", "s", "flush_one", "flush_one", "tar czf + PUT", (LE, 0.02), {"large"}, False),
    ("6", "sync append->ack p50", "ms", "sync_p50_ms", None, None, None, None, False),
    ("6", "sync append->ack p99", "ms", "sync_p99_ms", None, None, ("abs", LE, 250.0), None, False),
    ("6", "sync lines per second", "lines/s", "sync_lines_per_s", None, None, None, None, True),
    ("6", "O_APPEND p99, sync on", "us", "sync_append_p99_us", "sync_append_p99_us", "sync off", None, None, False),
    ("7", "peak RSS (VmHWM)", "MB", "rss_mb", "rss_mb", "archivemount", ("abs", LE, 150.0), {"large"}, False),
    ("7", "metadata bytes per file", "B", "meta_bytes_per_file", None, None, None, None, False),
    # Bytes moved (up + down) by one agent turn, % of the stored bytes; the
    # targets are issue 12's for layout v2 (2% medium, 0.5% large).
    ("8", "turn bytes, cold cache", "% stored", "turn_cold_pct", "turn_cold_pct", "GET+tar+PUT",
     {"medium": ("abs", LE, 2.0), "large": ("abs", LE, 0.5)}, None, False),
    ("8", "turn bytes, stale cache", "% stored", "turn_stale_pct", "turn_stale_pct", "GET+tar+PUT",
     {"medium": ("abs", LE, 2.0), "large": ("abs", LE, 0.5)}, None, False),
    # The same turn once the workspace is in layout v2 (`ccfs upgrade`).
    ("8", "turn bytes v2, cold cache", "% stored", "turn_v2_cold_pct", "turn_v2_cold_pct",
     "GET+tar+PUT", {"medium": ("abs", LE, 2.0), "large": ("abs", LE, 0.5)}, None, False),
    ("8", "turn bytes v2, stale cache", "% stored", "turn_v2_stale_pct", "turn_v2_stale_pct",
     "GET+tar+PUT", {"medium": ("abs", LE, 2.0), "large": ("abs", LE, 0.5)}, None, False),
]


def load(raw_path):
    samples, notes = {}, []
    with open(raw_path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            j = json.loads(line)
            if "note" in j:
                if j["note"] not in notes:
                    notes.append(j["note"])
                continue
            for side in ("ccfs", "peer"):
                v = j.get(side)
                if v is not None:
                    samples.setdefault((j["size"], j["key"], side), []).append(float(v))
    return samples, notes


def met(target, ratio, value):
    if target is None:
        return None
    if target[0] == "abs":
        op, limit, x = target[1], target[2], value
    else:
        op, limit, x = target[0], target[1], ratio
    if x is None:
        return None
    return x <= limit if op == LE else x >= limit


def target_text(target):
    if target is None:
        return "-"
    if target[0] == "abs":
        return f"{target[1]} {target[2]:g}"
    return f"ratio {target[0]} {target[1]:g}"


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def build_figures(samples, sizes, sync_measured):
    figures = []
    for size in sizes + ["any"]:
        for fid, name, unit, ckey, pkey, peer_name, target, target_sizes, higher_better in ROWS:
            sync_row = fid == "6"
            if sync_row != (size == "any"):
                continue
            cs = samples.get((size, ckey, "ccfs"), [])
            ps = samples.get((size, pkey, "peer"), []) if pkey else []
            if not cs and not (sync_row and not sync_measured):
                continue
            c = statistics.median(cs) if cs else None
            p = statistics.median(ps) if ps else None
            ratio = c / p if c is not None and p else None
            if isinstance(target, dict):  # a target per size
                target = target.get(size)
            applies = target is not None and (target_sizes is None or size in target_sizes)
            figures.append({
                "figure": fid, "name": name, "size": size, "unit": unit,
                "ccfs": c, "peer": p, "peer_name": peer_name, "ratio": ratio,
                "target": target_text(target) if applies else "-",
                "met": met(target, ratio, c) if applies else None,
                "measured": bool(cs),
                "higher_better": higher_better, "target_spec": target if applies else None,
                "samples": {"ccfs": cs, "peer": ps},
            })
    return figures


def write_table(path, figures, meta, notes):
    lines = []
    lines.append(f"ccfs benchmarks ({meta.get('date', '')}, {meta.get('machine', '')})")
    for size in meta["sizes"]:
        s = meta["workspaces"].get(size, {})
        lines.append(f"  {size}: {s.get('files', '?')} files, {s.get('bytes', 0) / 1e6:.1f} MB; "
                     f"store: ccfs {s.get('ccfs_store_bytes', 0) / 1e6:.1f} MB, "
                     f"plain tar.gz {s.get('plain_tgz_bytes', 0) / 1e6:.1f} MB; "
                     f"{s.get('runs', '?')} run(s), medians")
    lines.append("  ratio = ccfs / peer (time, latency: lower is better; MB/s: higher is better)")
    lines.append("")
    hdr = f"{'size':<7}{'fig':<4}{'figure':<27}{'unit':<8}{'ccfs':>10}  {'peer':<19}{'':>9}{'ratio':>9}  {'target':<14}{'met':<5}"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for f in figures:
        if not f["measured"]:
            lines.append(f"{f['size']:<7}{f['figure']:<4}{f['name']:<27}{f['unit']:<8}{'not measured':>10}")
            continue
        m = {True: "yes", False: "NO", None: "-"}[f["met"]]
        lines.append(f"{f['size']:<7}{f['figure']:<4}{f['name']:<27}{f['unit']:<8}{fmt(f['ccfs']):>10}  "
                     f"{(f['peer_name'] or '-'):<19}{fmt(f['peer']):>9}{fmt(f['ratio']):>9}  {f['target']:<14}{m:<5}")
    if notes:
        lines.append("")
        lines.extend(f"note: {n}" for n in notes)
    lines.append(f"total time: {meta.get('seconds', 0):.0f} s")
    text = "\n".join(lines) + "\n"
    with open(path, "w") as out:
        out.write(text)
    return text


def advantage(f):
    """How many times better ccfs is than its peer (>1: ccfs better)."""
    if f["ratio"] is None or f["ratio"] <= 0:
        return None
    return f["ratio"] if f["higher_better"] else 1 / f["ratio"]


def target_advantage(f):
    t = f["target_spec"]
    if t is None or t[0] == "abs":
        return None
    return t[1] if f["higher_better"] else 1 / t[1]


def write_chart(outdir, figures, sizes):
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "gnuplot not found: no chart (scripts/install-deps --bench installs it)"
    rows, seen = [], {}
    for f in figures:
        if f["peer"] is None or f["ratio"] is None:
            continue
        label = f"{f['figure']}. {f['name']}\\nvs {f['peer_name']}"
        if label not in seen:
            seen[label] = len(rows)
            rows.append({"label": label, "target": None})
        r = rows[seen[label]]
        r[f["size"]] = advantage(f)
        if target_advantage(f) is not None:
            r["target"] = target_advantage(f)
            r.setdefault("target_sizes", []).append(f["size"])
    n, width = len(sizes), 0.8 / max(1, len(sizes))
    offset = {s: (k - (n - 1) / 2) * width for k, s in enumerate(sizes)}
    dat = os.path.join(outdir, "chart.dat")
    with open(dat, "w") as out:
        for i, r in enumerate(rows):
            # The target mark sits over the bar it is stated for, or mid-group when it holds for all.
            ts = r.get("target_sizes", [])
            tx = i + offset[ts[0]] if len(ts) == 1 else i
            vals = [r.get(s) for s in sizes] + [r["target"], tx]
            out.write(f'{i} "{r["label"]}" ' + " ".join("?" if v is None else f"{v:.4g}" for v in vals) + "\n")
    plots = []
    for k, s in enumerate(sizes):
        off = offset[s]
        xt = ":xtic(2)" if k == 0 else ""
        title = "size-independent" if s == "any" else f"{s} workspace"
        plots.append(f"'chart.dat' using ($1{off:+.3f}):{k + 3}:({width * 0.9:.3f}){xt} with boxes title '{title}'")
    plots.append(f"'chart.dat' using {n + 4}:{n + 3} with points pt 9 ps 2.2 lc rgb 'black' title 'target'")
    plots.append("1 with lines dt 2 lc rgb 'gray40' title 'parity'")
    gp = os.path.join(outdir, "chart.gp")
    with open(gp, "w") as out:
        out.write(f"""set terminal pngcairo size 1500,760 font 'DejaVu Sans,10'
set output 'chart.png'
set datafile missing '?'
set title 'ccfs vs its peers: how many times better ccfs is (log scale; above 1 = ccfs better; median of runs)'
set logscale y
set format y '%gx'
set grid ytics
set yrange [*:*]
set xrange [-0.6:{len(rows) - 0.4}]
set style fill solid 0.85 border -1
set xtics rotate by -35 left font ',9'
set bmargin 9
set key top right
plot {', '.join(plots)}
""")
    r = subprocess.run([gnuplot, "chart.gp"], cwd=outdir, capture_output=True, text=True)
    if r.returncode != 0:
        return f"gnuplot failed: {r.stderr.strip()}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("outdir")
    ap.add_argument("--meta", required=True)
    a = ap.parse_args()
    with open(a.meta) as f:
        meta = json.load(f)
    samples, notes = load(a.raw)
    notes = meta.get("notes", []) + notes
    figures = build_figures(samples, meta["sizes"], meta.get("sync_measured", False))
    chart_sizes = meta["sizes"] + (["any"] if any(f["size"] == "any" and f["peer"] for f in figures) else [])
    chart_problem = write_chart(a.outdir, figures, chart_sizes)
    if chart_problem:
        notes.append(chart_problem)
    text = write_table(os.path.join(a.outdir, "table.txt"), figures, meta, notes)
    for f in figures:
        f.pop("higher_better")
        f.pop("target_spec")
    with open(os.path.join(a.outdir, "results.json"), "w") as out:
        json.dump({"meta": meta, "figures": figures, "notes": notes}, out, indent=1)
        out.write("\n")
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
