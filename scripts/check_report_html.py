"""Check that a run's report.html is self-contained and renders in headless Chromium.

Usage:
    python scripts/check_report_html.py runs/mnist-demo [--png report.png] [--chromium /usr/bin/chromium]
        [--expect sizes,pareto]

Always checks that every image is an embedded data URI and nothing is fetched from elsewhere, and that
the plots named by ``--expect`` are there (``sizes``: the size breakdown of a packed run). If
Chromium exists, it renders the page headless to a PNG screenshot and checks that the screenshot
is not blank; without Chromium it says so and checks only the HTML. Exit status 1 on a failed check.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def html_problems(page: str, expect: tuple[str, ...] = ()) -> list[str]:
    """What makes the page not self-contained, or lacks an expected plot (empty list when all is well)."""
    problems = []
    srcs = re.findall(r"src=['\"]([^'\"]*)['\"]", page)
    if not srcs:
        problems.append("no images")
    problems += [f"image not embedded: {s[:60]}" for s in srcs if not s.startswith("data:image/png;base64,")]
    problems += [f"external reference: {m}" for m in re.findall(r"(?:href|src)=['\"]?((?:https?:|//|file:)[^'\" >]*)",
                                                                 page)]
    plots = set(re.findall(r"<img alt=['\"]([^'\"]*)['\"]", page))
    problems += [f"plot missing: {name}" for name in expect if name not in plots]
    return problems


def render(chromium: str, html: Path, png: Path) -> None:
    """Screenshot ``html`` with headless Chromium (raises CalledProcessError / TimeoutExpired)."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--disable-gpu", "--no-sandbox", f"--user-data-dir={profile}",
                        "--hide-scrollbars", "--window-size=1280,2400", f"--screenshot={png}", html.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)


def blank(png: Path) -> bool:
    """True when the screenshot has a single colour (the page did not render)."""
    import matplotlib.image as mpimg

    pixels = mpimg.imread(str(png))
    return bool((pixels == pixels[0, 0]).all())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="report.html or the run directory that holds it")
    parser.add_argument("--png", default=None, help="screenshot file (default: report.png next to the HTML)")
    parser.add_argument("--chromium", default=None, help="Chromium binary (default: the first of " +
                        ", ".join(CANDIDATES) + " that exists, or chromium on PATH)")
    parser.add_argument("--expect", default="", help="comma-separated plots that must be in the page (e.g. sizes)")
    args = parser.parse_args(argv)
    html = Path(args.path)
    html = html / "report.html" if html.is_dir() else html
    if not html.is_file():
        print(f"error: {html} not found", file=sys.stderr)
        return 1
    expect = tuple(name for name in args.expect.split(",") if name)
    problems = html_problems(html.read_text(), expect)
    if problems:
        print("report.html is not self-contained or lacks a plot:\n  " + "\n  ".join(problems))
        return 1
    found = f", plots {', '.join(expect)} present" if expect else ""
    print(f"{html}: self-contained (images embedded as data URIs, no external references{found})")
    chromium = args.chromium or next((c for c in CANDIDATES if Path(c).exists()), None) or shutil.which("chromium")
    if not chromium:
        print("Chromium not found (looked for " + ", ".join(CANDIDATES) + "): rendering not checked")
        return 0
    png = Path(args.png) if args.png else html.with_name("report.png")
    try:
        render(chromium, html, png)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
        print(f"Chromium failed to render {html}: {err}")
        return 1
    if not png.is_file() or blank(png):
        print(f"Chromium rendered a blank page: {png}")
        return 1
    print(f"rendered with {chromium}: {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
