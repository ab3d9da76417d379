"""The table printed at the end of a run, and the JSON result written beside it.

Ratios are hatch / other for every row: below 1.00x is better where lower is better
(latency, memory, CPU), above 1.00x where higher is better (throughput). The target column
says whether the issue's target is met (ok / MISS), or "-" when a figure is missing.
"""
import json

LABELS = {"hatch": "hatch", "openssh": "OpenSSH", "dropbear": "dropbear"}


def _fmt(row, v):
    return "n/a" if v is None else row.fmt.format(v)


def _ratio(row, other):
    h, o = row.values.get("hatch"), row.values.get(other)
    if h is None or o is None or o == 0:
        return "-"
    return f"{h / o:.2f}x"


def table(rows, servers):
    names = [s.name for s in servers]
    header = (["metric", "unit"] + [LABELS.get(n, n) for n in names] +
              [f"hatch/{LABELS.get(n, n)}" for n in names if n != "hatch"] + ["target"])
    lines = []
    for r in rows:
        target = ""
        if r.target:
            met = r.target.check(r.values)
            target = "-" if met is None else ("ok" if met else "MISS")
            target += f" ({r.target.text})"
        lines.append([r.label, r.unit] + [_fmt(r, r.values.get(n)) for n in names] +
                     [_ratio(r, n) for n in names if n != "hatch"] + [target])
    widths = [max(len(x[i]) for x in [header] + lines) for i in range(len(header))]

    def fmt_line(cells):
        out = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
        out += [c.rjust(w) for c, w in zip(cells[2:-1], widths[2:-1])]
        out.append(cells[-1])
        return "  ".join(out).rstrip()

    text = [fmt_line(header), "  ".join("-" * w for w in widths[:-1]) + "  ------"]
    text += [fmt_line(l) for l in lines]
    return "\n".join(text)


def footnotes(rows):
    """One line per (server, reason), naming every row it emptied."""
    groups = {}
    for r in rows:
        for server, why in r.missing.items():
            groups.setdefault((server, why), []).append(r.label.strip())
    return [f"  n/a {LABELS.get(server, server)} ({'; '.join(labels)}): {why}"
            for (server, why), labels in groups.items()]


def write_json(path, data):
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
