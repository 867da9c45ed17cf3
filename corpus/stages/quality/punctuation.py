"""The character lists the reference implementation decides with, copied so that the rules decide as it does.

datatrove 0.10.1 (Apache-2.0) counts a word as a "symbol word" when every character is in its
hand-made ``PUNCTUATION`` list, ends FineWeb lines with its ``TERMINAL_PUNCTUATION`` list, and counts C4
sentences with spaCy's sentencizer, which ends a sentence at its ``default_punct_chars`` (spaCy, MIT).
These lists are not Unicode classes: to datatrove the bullet "•", "©", arrows, stars, currency signs and
emoji are words, not symbols; spaCy's list lacks the Khmer full stop; datatrove's adds Khmer signs that
are not sentence terminals. A Unicode class decides differently on real text (the bullet menus of whole
pages near the 50-word minimum), so the lists are copied; tests/test_quality_parity_kinds.py checks the
copies against the installed datatrove and spaCy.
"""

from __future__ import annotations

#: datatrove's ``PUNCTUATION``: a word made only of these is a symbol word (gopher_quality).
SYMBOLS = frozenset("!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
                    + "".join(map(chr, [*range(0, 9), *range(11, 13), *range(13, 32), *range(127, 160)])))

#: spaCy's ``Sentencizer.default_punct_chars``: a token that is one of these ends a sentence (c4).
SENTENCE_ENDS = (
    "!.?\u0589\u061f\u06d4\u0700\u0701\u0702\u07f9\u0964\u0965\u104a\u104b\u1362\u1367\u1368\u166e"
    "\u1735\u1736\u1803\u1809\u1944\u1945\u1aa8\u1aa9\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1c3b"
    "\u1c3c\u1c7e\u1c7f\u203c\u203d\u2047\u2048\u2049\u2e2e\u2e3c\u3002\ua4ff\ua60e\ua60f\ua6f3"
    "\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52"
    "\ufe56\ufe57\uff01\uff0e\uff1f\uff61\U00010a56\U00010a57\U00011047\U00011048\U000110be"
    "\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd"
    "\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c"
    "\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf"
    "\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641"
    "\U00011642\U0001173c\U0001173d\U0001173e\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41"
    "\U00011c42\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44\U0001bc9f\U0001da88"
)

#: datatrove's ``TERMINAL_PUNCTUATION`` (FineWeb's stop characters): spaCy's list and these.
TERMINAL = SENTENCE_ENDS + (
    "\u061d\u061e\u0837\u0839\u083d\u083e\u17d4\u17d5\u17d6\u17d9\u17da\u1b7d\u1b7e\u2e53\u2e54"
    "\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89"
    "\U00011944\U00011946\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016e98"
)
