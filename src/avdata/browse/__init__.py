"""``avdata browse``: static pages to look at and listen to a built set (issue 22).

``run.run_browse(BrowseOptions(target, out, media=...))``; the kinds of target are in ``targets``,
the site's files in ``site``.
"""
