#!/usr/bin/env python3
"""Turns control/status.html into a C header holding it as one string
literal (CTL_STATUS_HTML), so cachebox-control serves the page with no file
to find at run time. Usage: embed.py INPUT.html OUTPUT.h"""
import sys


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src, "rb") as f:
        data = f.read()
    lines = []
    for line in data.split(b"\n"):
        esc = "".join(ch if 0x20 <= b < 0x7f and ch not in '"\\?' else "\\%03o" % b
                      for b, ch in ((b, chr(b)) for b in line + b"\n"))
        lines.append('\t"%s"' % esc)
    with open(dst, "w") as f:
        f.write("/* Made by control/embed.py from %s: do not edit. */\n" % src.split("/")[-1])
        f.write("#define CTL_STATUS_HTML \\\n%s\n" % " \\\n".join(lines[:-1] or ['""']))


if __name__ == "__main__":
    main()
