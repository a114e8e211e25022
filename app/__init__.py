"""The application layer: the use-cases of the product (crawl these sources, analyse a page or URL, classify,
search, statistics, reviewer feedback, index maintenance) with plain typed inputs and outputs.

The shells — the `yijian` CLI (console/), the scheduler (scheduler.py) and the web console — parse their input,
call one function here and render what it returns. Nothing here prints or parses command lines; nothing below
this layer imports it.
"""
