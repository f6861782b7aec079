"""DVC's plot pages without internet: an HTML template with Vega, Vega-Lite and Vega-Embed inline.

    python -m tools.offline_plots            # `make setup` runs this once
    python -m tools.offline_plots --remove   # back to DVC's default page (libraries from a CDN)

DVC fills its plot pages (`dvc plots show/diff`) into the template named by the config key
`plots.html_template`: its `{plot_divs}` receive DVC's own plot elements, and the `{scripts}`
that would load the three libraries from a CDN are left out. The libraries come from the pinned
`vl-convert-python` package at set-up time, one self-contained script, and are written into the
git-ignored `.dvc/plots-offline.html`; the key goes into `.dvc/config.local`, this clone's own.
"""

import argparse
from pathlib import Path

from lrstudy.experiments import run_dvc

TEMPLATE_NAME = "plots-offline.html"  # relative to .dvc/, as DVC reads plots.html_template
VEGA_LITE_VERSION = "5.21"  # DVC writes Vega-Lite v5 specs
PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
    <!-- Vega-Embed, Vega-Lite __VEGA_LITE__ and Vega, inlined by tools.offline_plots -->
    <script type="text/javascript">
__BUNDLE__
    </script>
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def page_template(bundle, vega_lite_version=VEGA_LITE_VERSION):
    """DVC's page with `bundle` (JavaScript) inline instead of the CDN scripts."""
    inline = bundle.replace("</script", "<\\/script")  # the bundle cannot end its own tag
    return PAGE.replace("__VEGA_LITE__", vega_lite_version).replace("__BUNDLE__", inline)


def dvc_config(repo, *args):
    run_dvc("config", "--local", *args, cwd=repo)


def install(repo="."):
    """Write the offline template into `repo`'s .dvc/ and point plots.html_template at it."""
    import vl_convert

    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)
    (Path(repo) / ".dvc" / TEMPLATE_NAME).write_text(page_template(bundle), encoding="utf-8")
    dvc_config(repo, "plots.html_template", TEMPLATE_NAME)


def remove(repo="."):
    dvc_config(repo, "--unset", "plots.html_template")
    (Path(repo) / ".dvc" / TEMPLATE_NAME).unlink(missing_ok=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--remove", action="store_true", help="go back to DVC's default template")
    args = parser.parse_args(argv)
    if args.remove:
        remove()
        print("offline_plots: removed; `dvc plots` pages load Vega from a CDN again")
    else:
        install()
        print(f"offline_plots: `dvc plots` pages now use .dvc/{TEMPLATE_NAME} (no network needed)")


if __name__ == "__main__":
    main()
