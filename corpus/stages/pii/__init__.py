"""The ``pii`` stage: Presidio pattern recognizers, secrets and an offline NER model, with policies.

Modules: `prescreen` (which regions to analyse), `recognizers` and `secrets` (what Presidio looks
for), `ner` (offline named-entity backends), `engine` (the analyzer built once per worker),
`policy` and `surrogates` (what is done with each entity), `review` (the private review sample),
`stage` (the stage itself).
"""
