#!/usr/bin/env python3
"""Read a dater dashboard for tests/t_dashboard.sh; print one JSON document.

  dashboard_check.py html FILE
      Parses FILE with html.parser and reports what a test asserts on:
      {"errors": [tag balance problems], "doctype": bool,
       "scripts": <script> elements, "handlers": on* attributes,
       "external": src/href/url() values that leave the page,
       "charts": {ID: {"class", "title", "bars", "points", "lines",
                       "tips": [<title> texts of bars and points],
                       "legend": [legend texts], "texts": [all <text>],
                       "swatches": {legend text: its swatch's fill},
                       "empty": the "no data yet" note is there}},
       "tables": {ID: [[cell text, ...], ...]} (header row first),
       "tiles": {ID: value text}, "raw_has": {STRING: found verbatim}}
      for every extra argument STRING (raw_has: for escaping checks).

  dashboard_check.py png FILE [#RRGGBB ...]
      Decodes the PNG (8-bit greyscale/RGB/RGBA, not interlaced) with zlib
      only and reports {"width", "height", "colours": distinct colours,
      "nonwhite": fraction of pixels that are not near-white,
      "hits": {COLOUR: pixels within 6 per channel of it},
      "bands": [nonwhite fraction of each 10% horizontal band]}.
"""
import json
import re
import struct
import sys
import zlib
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "source", "track", "wbr"}
# A URL with a scheme or a network path: it leaves the page.
EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.I)


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.errors = []
        self.doctype = False
        self.scripts = 0
        self.handlers = []
        self.external = []
        self.charts = {}
        self.tables = {}
        self.tiles = {}
        self.chart = None      # the chart being read
        self.table = None      # the rows of the table being read
        self.row = None
        self.cell = None
        self.title = None      # text of the <title> being read
        self.text = None       # text of the <text> being read
        self.tile = None
        self.style = False

    # -- structure
    def handle_decl(self, decl):
        if decl.lower() == "doctype html":
            self.doctype = True

    def handle_startendtag(self, tag, attrs):
        self.open_tag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()
            self.close_tag(tag)

    def handle_starttag(self, tag, attrs):
        self.open_tag(tag, attrs)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("</%s> closes <%s> at line %d" % (
                tag, self.stack[-1] if self.stack else "nothing",
                self.getpos()[0]))
            if tag in self.stack:
                while self.stack and self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()
        self.close_tag(tag)

    # -- content
    def open_tag(self, tag, attrs):
        a = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "script":
            self.scripts += 1
        if tag in ("link", "iframe", "object", "embed", "img", "image",
                   "use", "audio", "video", "source", "base"):
            self.external.append("<%s>" % tag)
        for k, v in attrs:
            if k.startswith("on"):
                self.handlers.append(k)
            if k in ("src", "href", "xlink:href", "action", "srcset",
                     "poster", "data") and v and EXTERNAL.match(v):
                self.external.append(v)
        if tag == "style":
            self.style = True
        if tag == "svg":
            self.chart = {"id": a.get("id"), "class": a.get("class", ""),
                          "title": None, "bars": 0, "points": 0, "lines": 0,
                          "tips": [], "legend": [], "texts": [],
                          "swatches": {}, "in_legend": False}
        elif self.chart is not None:
            if tag == "path" and a.get("d", "").strip():
                self.chart["lines"] += 1
            if tag == "g" and "lg" in a.get("class", "").split():
                self.chart["in_legend"] = True
            if tag in ("rect", "circle"):
                self.chart["pending"] = tag
            if tag == "rect" and self.chart["in_legend"]:
                self.chart["fill"] = a.get("fill")
        if tag == "title":
            self.title = ""
        if tag == "text":
            self.text = ""
        if tag == "table":
            self.table = {"id": a.get("id"), "rows": []}
        if tag == "tr" and self.table is not None:
            self.row = []
        if tag in ("td", "th") and self.row is not None:
            self.cell = ""
        if tag == "div" and "tile" in a.get("class", "").split():
            self.tile = {"id": a.get("id"), "value": ""}
            self.tile_b = False
        if tag == "b" and self.tile is not None:
            self.tile_b = True

    def close_tag(self, tag):
        c = self.chart
        if tag == "svg" and c is not None:
            c.pop("in_legend", None)
            c.pop("pending", None)
            c.pop("fill", None)
            c["empty"] = "no data yet" in c["texts"]
            self.charts[c["id"]] = c
            self.chart = None
        elif tag == "title" and self.title is not None:
            if c is not None:
                if c["title"] is None:
                    c["title"] = self.title
                elif c.get("pending") == "rect":
                    c["bars"] += 1
                    c["tips"].append(self.title)
                elif c.get("pending") == "circle":
                    c["points"] += 1
                    c["tips"].append(self.title)
            self.title = None
        elif tag in ("rect", "circle") and c is not None:
            c.pop("pending", None)
        elif tag == "text" and self.text is not None:
            if c is not None:
                c["texts"].append(self.text)
                if c["in_legend"]:
                    c["legend"].append(self.text)
                    if c.get("fill"):
                        c["swatches"][self.text] = c.pop("fill")
            self.text = None
        elif tag == "g" and c is not None:
            c["in_legend"] = False
        elif tag in ("td", "th") and self.cell is not None:
            self.row.append(self.cell.strip())
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.table["rows"].append(self.row)
            self.row = None
        elif tag == "table" and self.table is not None:
            self.tables[self.table["id"]] = self.table["rows"]
            self.table = None
        elif tag == "b" and self.tile is not None:
            self.tile_b = False
        elif tag == "div" and self.tile is not None:
            self.tiles[self.tile["id"]] = self.tile["value"].strip()
            self.tile = None
        elif tag == "style":
            self.style = False

    def handle_data(self, data):
        if self.title is not None:
            self.title += data
        if self.text is not None:
            self.text += data
        if self.cell is not None:
            self.cell += data
        if self.tile is not None and self.tile_b:
            self.tile["value"] += data
        if self.style:
            for m in re.finditer(r"url\(([^)]*)\)|@import", data):
                self.external.append(m.group(0))


def check_html(path, needles):
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    p = Page()
    p.feed(raw)
    p.close()
    if p.stack:
        p.errors.append("unclosed at the end: %s" % " ".join(p.stack))
    return {"errors": p.errors, "doctype": p.doctype, "scripts": p.scripts,
            "handlers": p.handlers, "external": p.external,
            "charts": p.charts, "tables": p.tables, "tiles": p.tiles,
            "raw_has": {n: n in raw for n in needles}}


# ---- PNG ---------------------------------------------------------------

def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def unfilter(data, width, height, bpp):
    stride = width * bpp
    out = bytearray(stride * height)
    prev = bytearray(stride)
    pos = 0
    for y in range(height):
        ft = data[pos]
        line = bytearray(data[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        if ft == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xff
        elif ft == 2:
            line = bytearray((x + p) & 0xff for x, p in zip(line, prev))
        elif ft == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xff
        elif ft == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                up_left = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + paeth(left, prev[i], up_left)) & 0xff
        elif ft != 0:
            raise ValueError("bad filter type %d in row %d" % (ft, y))
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return out


def read_png(path):
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(blob):
        n, kind = struct.unpack(">I4s", blob[pos:pos + 8])
        body = blob[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    width, height, depth, ctype, _, _, interlace = ihdr
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or bpp is None or interlace:
        raise ValueError("unsupported PNG: depth %d, colour type %d, "
                         "interlace %d" % (depth, ctype, interlace))
    px = unfilter(zlib.decompress(b"".join(idat)), width, height, bpp)
    return width, height, bpp, px


def check_png(path, colours):
    width, height, bpp, px = read_png(path)
    want = [(c, tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)))
            for c in colours]
    hits = {c: 0 for c in colours}
    seen = set()
    nonwhite = 0
    bands = [0] * 10
    stride = width * bpp
    for y in range(height):
        row = px[y * stride:(y + 1) * stride]
        if bpp >= 3:
            pix = zip(row[0::bpp], row[1::bpp], row[2::bpp])
        else:
            pix = ((g, g, g) for g in row[0::bpp])
        band = y * 10 // height
        for rgb in pix:
            seen.add(rgb)
            if min(rgb) < 235:
                nonwhite += 1
                bands[band] += 1
                for c, w in want:
                    if (abs(rgb[0] - w[0]) <= 6 and abs(rgb[1] - w[1]) <= 6
                            and abs(rgb[2] - w[2]) <= 6):
                        hits[c] += 1
    per_band = width * height / 10.0
    return {"width": width, "height": height, "colours": len(seen),
            "nonwhite": nonwhite / float(width * height),
            "hits": hits, "bands": [round(b / per_band, 4) for b in bands]}


def main(argv):
    if len(argv) < 3 or argv[1] not in ("html", "png"):
        sys.stderr.write(__doc__)
        return 64
    try:
        if argv[1] == "html":
            doc = check_html(argv[2], argv[3:])
        else:
            doc = check_png(argv[2], argv[3:])
    except (OSError, ValueError, zlib.error, struct.error, TypeError) as e:
        doc = {"error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
