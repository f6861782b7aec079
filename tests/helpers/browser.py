"""What a user sees of an HTML page: headless Chromium with the network cut off.

python -m lrstudy.browser PAGE.html SCREENSHOT.png [--width 1000 --height 2400]
"""

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
# No proxy listens on port 9 and no name resolves: a page that needs the network shows it.
OFFLINE = ("--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND")
SCRIPT_TIME_MS = 20000  # virtual time for the page's scripts to finish drawing


def find_chromium():
    """The path of a Chromium (or Chrome) on PATH, or None."""
    return next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)


def run_chromium(page, *options):
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no Chromium on PATH (Debian: apt-get install chromium)")
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        f"--virtual-time-budget={SCRIPT_TIME_MS}",
        *OFFLINE,
        *options,
        Path(page).resolve().as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=True).stdout


def rendered_dom(page):
    """The page's DOM after its scripts ran, offline."""
    return run_chromium(page, "--dump-dom")


def screenshot(page, png, width=1000, height=2400):
    """A PNG of the page as drawn offline, `width` x `height` pixels."""
    with tempfile.TemporaryDirectory() as profile:  # a fresh profile: nothing cached
        run_chromium(
            page,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={Path(png).resolve()}",
        )
    return Path(png)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args(argv)
    print(f"browser: {screenshot(args.page, args.png, args.width, args.height)}")


if __name__ == "__main__":
    main()
