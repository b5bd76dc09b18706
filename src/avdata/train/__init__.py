"""``avdata train``: an audio-visual correspondence model of the user's own clips (issue 19).

``run.run_train(TrainOptions(...))`` prepares each clip's inputs once (``inputs``), draws positive
pairs and batches under the shortcut guards (``pairs``), trains two towers into one space
(``model``, ``loop``) and writes ``model.pt`` for the ``avc`` embedder, ``card.json`` and a report.
"""
