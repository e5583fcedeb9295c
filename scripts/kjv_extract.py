#!/usr/bin/env python3
"""kjv_extract.py - OSIS XML (bibledit-data's kjv.xml) to one verse per line.

A verse is the text between <verse sID=.../> and <verse eID=.../>. <note>
elements are dropped with their content; every other tag is dropped but its
text is kept; runs of whitespace become one space. Python 3 standard library
only (xml.sax, streaming). Usage: kjv_extract.py kjv.xml OUT.txt
Prints the number of verses written.
"""
import sys
import xml.sax


class VerseHandler(xml.sax.handler.ContentHandler):
    def __init__(self, out):
        super().__init__()
        self.out = out
        self.verse = None   # sID of the open verse, or None
        self.parts = []
        self.note_depth = 0
        self.count = 0

    def startElement(self, name, attrs):
        if name == "note":
            self.note_depth += 1
        elif name == "verse":
            if "sID" in attrs:
                if self.verse is not None:
                    raise ValueError("verse %s starts inside verse %s" % (attrs["sID"], self.verse))
                self.verse = attrs["sID"]
                self.parts = []
            elif "eID" in attrs:
                if self.verse != attrs["eID"]:
                    raise ValueError("verse end %s does not match start %s" % (attrs["eID"], self.verse))
                text = " ".join("".join(self.parts).split())
                if not text:
                    raise ValueError("verse %s is empty" % self.verse)
                self.out.write(text + "\n")
                self.count += 1
                self.verse = None

    def endElement(self, name):
        if name == "note":
            self.note_depth -= 1

    def characters(self, content):
        if self.verse is not None and self.note_depth == 0:
            self.parts.append(content)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: kjv_extract.py kjv.xml OUT.txt\n")
        return 2
    with open(argv[2], "w", encoding="utf-8", newline="\n") as out:
        handler = VerseHandler(out)
        parser = xml.sax.make_parser()
        parser.setFeature(xml.sax.handler.feature_namespaces, False)
        parser.setFeature(xml.sax.handler.feature_external_ges, False)
        parser.setContentHandler(handler)
        try:
            parser.parse(argv[1])
        except (xml.sax.SAXException, ValueError) as e:
            sys.stderr.write("kjv_extract.py: %s: %s\n" % (argv[1], e))
            return 1
        if handler.verse is not None:
            sys.stderr.write("kjv_extract.py: %s: verse %s never ends\n" % (argv[1], handler.verse))
            return 1
    print(handler.count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
