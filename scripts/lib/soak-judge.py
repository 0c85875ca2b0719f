"""Judges and draws the samples of scripts/soak (its header says how), apart from the run so that the samples a
run kept can be judged again: python3 scripts/lib/soak-judge.py SAMPLES PLOT SERVER NODES RATE DISCARD JUDGE."""
import statistics, subprocess, sys
path, plot, server, nodes, rate, discard, judge = sys.argv[1:]
rows = []
for line in open(path):
    rows.append(dict(item.split("=", 1) for item in line.split()))
dead = sorted({row["dead"] for row in rows if "dead" in row})
series = sorted({key for row in rows for key in row if ":" in key or key in ("connections", "server_private_kb")})
slack = {"rss": 3072, "fds": 2, "connections": 1, "table_mb": 1.0, "dead": 5000, "server_private_kb": 10240}
hourly = {"rss": 1024, "fds": 1, "connections": 1, "table_mb": 2.0, "dead": 10000, "server_private_kb": 20480}
def points(key):
    return [(float(row["t"]), float(row[key])) for row in rows if key in row]
def fit(pairs):
    """The least-squares slope of value over time, per second, and its standard error."""
    mt = statistics.fmean(t for t, _ in pairs)
    mv = statistics.fmean(v for _, v in pairs)
    spread = sum((t - mt) ** 2 for t, _ in pairs)
    if len(pairs) < 3 or not spread:
        return 0.0, 0.0
    b = sum((t - mt) * (v - mv) for t, v in pairs) / spread
    residual = sum((v - mv - b * (t - mt)) ** 2 for t, v in pairs) / (len(pairs) - 2)
    return b, (residual / spread) ** 0.5
half_from = float(rows[len(rows) // 2]["t"])
span = float(rows[-1]["t"]) - half_from
long_half = span >= 1500
print(f"judged over t={half_from:g}..{rows[-1]['t']} s: "
      + ("slope per hour against the hourly limits, when three standard errors above zero" if long_half
         else "last quarter's median against the second quarter's"))
print(f"{'series':<56} {'first':>10} {'at half':>10} {'last':>10} {'growth':>12} {'allowed':>9} {'verdict':>8}")
grew = []
for key in series:
    pairs = points(key)
    kind = key.split(":")[0]
    values = [v for _, v in pairs]
    q = max(1, len(values) // 4)
    if long_half:
        b, error = fit([(t, v) for t, v in pairs if t >= half_from])
        growth, allowed, unit = b * 3600, hourly.get(kind, 0), "/h"
        # A module's lines step where a fresh process replaces the last (a singleton's holder and standby differ
        # by MBs): only a slope those steps cannot explain counts.
        significant = b > 3 * error
    else:
        growth = statistics.median(values[-q:]) - statistics.median(values[q:2 * q])
        allowed, unit = max(statistics.median(values[q:2 * q]) * 0.2, slack.get(kind, 0)), ""
        significant = True
    if kind not in judge.split():
        verdict = "-"
    else:
        verdict = "GREW" if growth > allowed and significant else "flat"
    if verdict == "GREW":
        grew.append(key)
    print(f"{key:<56} {values[0]:>10g} {values[len(values) // 2]:>10g} {values[-1]:>10g} "
          f"{growth:>10.4g}{unit:<2} {allowed:>9g} {verdict:>8}")
respawns = int(rows[-1]["respawns"]) - int(rows[0]["respawns"])
finished = statistics.median(float(row["finished_per_s"]) for row in rows)
print(f"history: {rows[0]['history_mb']} MB at the first sample, {rows[-1]['history_mb']} MB at the last (kept for history_retention)")
print(f"respawns during the run: {respawns}; finished per second, median: {finished:g}; waiting at the end: {rows[-1]['waiting']}")

def columns(prefix):
    return [key for key in series if key.startswith(prefix)]
data = "\n".join(" ".join([row["t"]] + [row.get(key, "NaN") for key in series]) for row in rows)
titles = {"server_private_kb": "PostgreSQL, private memory", "connections": "client sessions (the arrivals' 2 too)"}
def lines(keys, scale=1):
    return ", ".join(f'$d u ($1/60):(${series.index(k) + 2}/{scale}) w l lw 2 t "{titles.get(k, k.split(":", 1)[-1])}"'
                     for k in keys)
script = f"""set terminal pngcairo noenhanced size 1400,1500
set output "{plot}"
$d << EOD
{data}
EOD
set multiplot layout 3,2 title "soak: {nodes} node(s), {rate} tasks/s arriving, every module respawned every {discard}\\n{server}"
set grid; set xlabel "minutes"; set key below font ",9"; set yrange [0:*]
set ylabel "RSS MB"; plot {lines(columns("rss:"), 1024)}
set ylabel "open descriptors"; plot {lines(columns("fds:"))}
set ylabel "server connections"; plot {lines(["connections"])}
set ylabel "MB"; plot {lines(columns("table_mb:"))}
set ylabel "dead rows"; plot {lines(columns("dead:"))}
set ylabel "MB"; plot {lines(["server_private_kb"], 1024)}
unset multiplot
"""
if plot != "none":
    subprocess.run(["gnuplot"], input=script, text=True, check=True)
    print(f"plot: {plot}")
if dead:
    sys.exit(f"soak: node(s) died: {', '.join(dead)}")
if respawns == 0:
    sys.exit("soak: no module was discarded or restarted during the run; DISCARD_AFTER is longer than the run")
if grew:
    sys.exit(f"soak: grew over the run's second half: {', '.join(grew)}")
print("soak: nothing grew")
