"""Write docs/model.md from the code (ODD model description with generated parameter tables).

    python scripts/make_model_doc.py            # (re)write docs/model.md
    python scripts/make_model_doc.py --check    # exit 1 if docs/model.md is not current

The text comes from :func:`mscabm.model_doc.render_model_doc`; edit ``mscabm/model_doc.py``
(narrative) or ``mscabm/parameter_sources.py`` (sources), never the generated file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mscabm.model_doc import render_model_doc  # noqa: E402

OUT = ROOT / "docs" / "model.md"
COMMAND = "python scripts/make_model_doc.py"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if docs/model.md differs from the code"
    )
    args = parser.parse_args(argv)
    text = render_model_doc()
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else None
        if current != text:
            print(f"docs/model.md is out of date with the code: run `{COMMAND}`", file=sys.stderr)
            return 1
        print("docs/model.md is current")
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
