"""Regenerate the README's settings table from tickcast.config.Settings."""

from __future__ import annotations

import re
from pathlib import Path

from tickcast.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(<!-- settings:start[^>]*-->\n).*?(\n<!-- settings:end -->)", re.S)


def main() -> None:
    text = README.read_text()
    if not BLOCK.search(text):
        raise SystemExit("README.md has no settings markers")
    README.write_text(
        BLOCK.sub(lambda m: m.group(1) + Settings.markdown_table() + m.group(2), text)
    )


if __name__ == "__main__":
    main()
