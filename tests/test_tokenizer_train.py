"""``thresher tokenizer train``: a byte-level BPE folder that transformers loads, for pretraining and chat."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import thresher
from tokenizer_fixtures import VOCAB_SIZE, trained_tokenizer, write_speech_pieces  # noqa: F401

from corpus.tokenizer import folder_sha256, load

TEXTS = ["Fellow-Citizens of the Senate and of the House of Representatives:",
         "Prix: 1 234,56 € — café naïve; 東京 🚀\n\n\tindented\r\nline", "", "   ", "<|end_of_text|> is text here"]


def test_transformers_loads_it_with_special_tokens(trained_tokenizer):  # noqa: F811
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(trained_tokenizer))
    assert len(hf) == VOCAB_SIZE
    assert (hf.bos_token, hf.eos_token, hf.pad_token) == ("<|begin_of_text|>", "<|end_of_text|>", "<|pad|>")
    assert len({hf.bos_token_id, hf.eos_token_id, hf.pad_token_id}) == 3
    for text in TEXTS[:2]:
        ids = hf(text, add_special_tokens=False).input_ids
        assert hf.decode(ids) == text  # byte-level: lossless on any string, no unknown token
        assert hf.unk_token_id not in ids or hf.unk_token_id is None
    common = hf("the people of the United States", add_special_tokens=False).input_ids
    assert len(common) <= 8  # merges learned from the speeches: frequent words are single tokens


def test_chat_template_marks_assistant_turns(trained_tokenizer):  # noqa: F811
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(trained_tokenizer))
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Who spoke first?"},
            {"role": "assistant", "content": "George Washington."}]
    text = hf.apply_chat_template(msgs, tokenize=False)
    assert text == ("<|begin_of_text|><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWho spoke first?"
                    "<|im_end|>\n<|im_start|>assistant\nGeorge Washington.<|im_end|>\n")
    prompt = hf.apply_chat_template(msgs[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")
    out = hf.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    trained_on = [t for t, m in zip(out["input_ids"], out["assistant_masks"], strict=True) if m]
    assert hf.decode(trained_on) == "George Washington.<|im_end|>"
    im_start, im_end = hf.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    assert out["input_ids"].count(im_start) == 3 and out["input_ids"].count(im_end) == 3


def test_loader_agrees_with_transformers(trained_tokenizer):  # noqa: F811
    """The stage's light loader (tokenizers only) gives the ids and encodings transformers gives."""
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(trained_tokenizer))
    tok = load(str(trained_tokenizer))
    assert (tok.eos_id, tok.bos_id, tok.pad_id, tok.vocab_size) == (hf.eos_token_id, hf.bos_token_id,
                                                                    hf.pad_token_id, len(hf))
    # text is only text: a spelled special token is encoded as its characters (split_special_tokens)
    assert tok.encode(TEXTS) == [hf(t, add_special_tokens=False, split_special_tokens=True).input_ids for t in TEXTS]
    assert tok.sha256 == folder_sha256(trained_tokenizer)


def test_run_dir_input_sampling_and_determinism(tmp_path):
    """A run directory is read through its data/; sampling is seeded; the same command gives the same bytes."""
    corpus = tmp_path / "in.jsonl"
    records = write_speech_pieces(corpus, "inaugural")
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"name: t\ninput: {{paths: [{corpus}]}}\noutput: run\nworkers: 1\nstages: []\n")
    assert thresher("build", str(pipeline), "--quiet").returncode == 0
    outs = []
    for name in ("a", "b"):
        r = thresher("tokenizer", "train", "--input", str(tmp_path / "run"), "--vocab-size", "400",
                     "--sample", "0.5", "--seed", "7", "--output", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
        outs.append((tmp_path / name / "tokenizer.json").read_bytes())
    assert outs[0] == outs[1]
    record = json.loads((tmp_path / "a" / "thresher_tokenizer.json").read_text())
    assert 0.35 * len(records) < record["documents"] < 0.65 * len(records)
    assert record["vocab_size"] == 400 and record["files"] == 1


@pytest.mark.parametrize("args, message", [
    (["--vocab-size", "100"], "at least"),
    (["--vocab-size", "500", "--sample", "0"], "--sample"),
    (["--vocab-size", "500", "--input", "/no/such/file.jsonl"], "no such file"),
])
def test_user_mistakes_exit_2(tmp_path, args, message):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "hello world"}\n')
    base = ["tokenizer", "train", "--output", str(tmp_path / "o")]
    if "--input" not in args:
        base += ["--input", str(corpus)]
    r = thresher(*base, *args)
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_refuses_to_overwrite_without_flag(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"document number {i} about tokens"}) + "\n" for i in range(50)))
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("mine")
    args = ["tokenizer", "train", "--input", str(corpus), "--vocab-size", "300", "--output", str(tmp_path / "o")]
    r = thresher(*args)
    assert r.returncode == 2 and "--overwrite" in r.stderr
    assert (tmp_path / "o" / "keep.txt").exists()
    assert thresher(*args, "--overwrite").returncode == 0
    assert (tmp_path / "o" / "tokenizer.json").exists() and not (tmp_path / "o" / "keep.txt").exists()


def test_a_run_directory_is_read_in_build_order_past_a_thousand_shards(tmp_path):
    """``--max-docs`` takes the first documents built: shard ``-1000`` comes after ``-999``, not after ``-100``."""
    from corpus.document import Document
    from corpus.io.writers import ShardWriter
    from corpus.tokenizer_train import Corpus

    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "config.yaml").write_text("name: t\n")
    writer = ShardWriter(run / "data", "00000", shard_size_mb=1e-6)  # one document per shard
    for i in range(1002):
        writer.write(Document(f"d{i}", f"document number {i}", "in.jsonl"))
    writer.close()
    corpus = Corpus([str(run)], max_docs=1001)
    corpus.expand()
    assert [Path(f).name for f, _ in corpus.files[999:1001]] == ["00000-999.jsonl.zst", "00000-1000.jsonl.zst"]
    assert list(corpus.texts())[-2:] == ["document number 999", "document number 1000"]


def test_inputs_are_read_as_the_build_reads_them(tmp_path):
    """A ``.json`` array and a CSV give their records' text, not their raw lines; a WARC is refused."""
    from corpus.tokenizer_train import Corpus

    rows = [{"id": f"r{i}", "text": f"record {i} speaks of tokens and merges"} for i in range(6)]
    (tmp_path / "a.json").write_text(json.dumps(rows[:3]))
    (tmp_path / "b.csv").write_text("id,text\n" + "".join(f"{r['id']},{r['text']}\n" for r in rows[3:]))
    corpus = Corpus([str(tmp_path / "a.json"), str(tmp_path / "b.csv")])
    corpus.expand()
    assert list(corpus.texts()) == [r["text"] for r in rows]
    (tmp_path / "c.warc.gz").write_bytes(b"")
    r = thresher("tokenizer", "train", "--input", str(tmp_path / "c.warc.gz"), "--vocab-size", "300",
                 "--output", str(tmp_path / "o"))
    assert r.returncode == 2 and "extract" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
