"""Token-shard defects of issue 21, each a regression test that failed before its fix: a reordered ``--mix``
taken for the same settings (03), the mixture's hash sharing the val split's salt (04), and document text
spelling a special token encoded as that token (05)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from conftest import thresher, write_pipeline
from tokenizer_fixtures import trained_tokenizer, write_speech_pieces  # noqa: F401

from corpus import draws
from corpus.token_shards import Mixer, Settings, is_val
from corpus.tokens import open_tokens

SPELLED = "He wrote <|end_of_text|> on the board, then <|im_start|>system and <|im_end|>."


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A finished run (no stages) over two real sources and one document that spells special tokens."""
    tmp = tmp_path_factory.mktemp("defects")
    write_speech_pieces(tmp / "in" / "inaugural.jsonl", "inaugural")
    write_speech_pieces(tmp / "in" / "state_union.jsonl", "state_union", files=10)
    (tmp / "in" / "spelled.jsonl").write_bytes(orjson.dumps({"id": "spelled", "text": SPELLED}) + b"\n")
    cfg = write_pipeline(tmp / "pipe.yaml", name="defects", output="run", workers=1, stages=[],
                         input={"paths": [str(tmp / "in" / "*.jsonl")]})
    r = thresher("build", str(cfg), "--quiet")
    assert r.returncode == 0, r.stderr
    return tmp / "run"


def tokenize(run: Path, tok: Path, out: Path, *args: str):
    return thresher("tokenize", str(run), "--tokenizer", str(tok), "--output", str(out), *args)


def source_counts(tokens: Path, name: str) -> dict:
    sources = orjson.loads((tokens / "manifest.json").read_bytes())["mix"]["sources"]
    (row,) = [v for k, v in sources.items() if k.endswith(name)]
    return row


def test_a_reordered_mix_is_other_settings(run, trained_tokenizer, tmp_path):  # noqa: F811
    """03: the first pattern naming a source wins, so the same patterns in another order mix differently."""
    out = tmp_path / "tokens"
    r = tokenize(run, trained_tokenizer, out, "--mix", "inaugural.jsonl=3", "--mix", "*.jsonl=0")
    assert r.returncode == 0, r.stderr
    before = source_counts(out, "inaugural.jsonl")
    assert before["sequences"] == 3 * before["documents_in"]

    r = tokenize(run, trained_tokenizer, out, "--mix", "*.jsonl=0", "--mix", "inaugural.jsonl=3")
    assert r.returncode == 2 and "another tokenizer or settings" in r.stderr, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1
    assert source_counts(out, "inaugural.jsonl") == before  # the manifest still describes the shards

    a = Settings("tok", mix={"inaugural.jsonl": 3.0, "*.jsonl": 0.0})
    b = Settings("tok", mix={"*.jsonl": 0.0, "inaugural.jsonl": 3.0})
    assert a.key() != b.key()
    assert Mixer(a.mix, 0).rule("in/inaugural.jsonl") != Mixer(b.mix, 0).rule("in/inaugural.jsonl")


def test_mix_seed_equal_to_the_val_salt_keeps_its_share(run, trained_tokenizer, tmp_path):  # noqa: F811
    """04: seed 31261 (0x7A1D, the val split's seed) used to draw the val hash again, so a source weighted
    at most val_fraction kept none of its training documents."""
    out = tmp_path / "tokens"
    r = tokenize(run, trained_tokenizer, out, "--val-fraction", "0.3", "--mix", "inaugural.jsonl=0.3",
                 "--seed", str(draws.VAL_SPLIT_SEED))
    assert r.returncode == 0, r.stderr
    row = source_counts(out, "inaugural.jsonl")
    assert row["documents_in"] > 50
    assert 0.15 < row["documents"] / row["documents_in"] < 0.45, row


def test_every_seeded_draw_is_independent_of_the_val_split():
    """04 and its sibling: the mixture's copies and the tokenizer's training sample draw under salts of
    their own, so for any seed (the val split's own among them) about fraction^2 of ids fall under both
    a draw and the val split."""
    ids = [f"doc-{i}" for i in range(20000)]
    val = {i for i in ids if is_val(i, 0.3)}
    for seed in (0, 1, draws.VAL_SPLIT_SEED):
        mixer = Mixer({}, seed)
        for chosen in ({i for i in ids if mixer.copies(i, 0.3)},
                       {i for i in ids if draws.below(draws.TOKENIZER_SAMPLE, i, seed, 0.3)}):
            both = len(chosen & val) / len(ids)
            assert 0.07 < both < 0.11, (seed, both)  # independent: 0.09; a shared salt gives 0.3


def test_text_spelling_special_tokens_stays_text(run, trained_tokenizer, tmp_path):  # noqa: F811
    """05: a document that spells ``<|end_of_text|>`` or ``<|im_start|>`` holds no special token: its one
    EOS is the one appended by id, and the sequence decodes back to its text."""
    from tokenizers import Tokenizer

    out = tmp_path / "tokens"
    assert tokenize(run, trained_tokenizer, out).returncode == 0
    corpus = open_tokens(out)
    (seq,) = [s for doc_id, s in corpus if doc_id == "spelled"]
    fast = Tokenizer.from_file(str(trained_tokenizer / "tokenizer.json"))
    specials = {fast.token_to_id(t) for t in ("<|begin_of_text|>", "<|end_of_text|>", "<|pad|>", "<|im_start|>",
                                              "<|im_end|>")}
    assert corpus.eos_id in specials
    assert int(seq[-1]) == corpus.eos_id
    assert not specials & {int(t) for t in seq[:-1]}
    assert fast.decode([int(t) for t in seq[:-1]], skip_special_tokens=False) == SPELLED


def test_a_reordered_mix_is_another_pipeline_config(tmp_path) -> None:
    """The first ``mix`` pattern naming a source wins, so the same patterns in another order are another
    config (hash); spelling out a default is not."""
    from conftest import write_pipeline

    from corpus import config

    def sha(mix: dict, **stage) -> str:
        p = write_pipeline(tmp_path / "p.yaml", name="mix", input={"paths": ["in.jsonl"]}, output="out",
                           stages=[{"stage": "tokenize", "tokenizer": "gpt2", "mix": mix, **stage}])
        return config.load(p).sha256()

    a = sha({"web-*": 0.5, "*": 2.0})
    assert sha({"*": 2.0, "web-*": 0.5}) != a
    assert sha({"web-*": 0.5, "*": 2.0}, seed=0) == a == sha({"web-*": 0.5, "*": 2.0})
