"""The names shared across the pipeline, the report and the trainer, spelled once.

Three contracts live here:

- **Metadata keys**: what readers and stages write into a document's ``metadata`` and the report, the
  dataset card and the rights tools read back. The values are in users' data (every kept shard carries
  them), so they never change; a stage writes ``doc.metadata[keys.LANGUAGE]``, never ``"language"``.
- **Stage categories**: what a stage does (``Stage.category``), recorded per stage in ``stats.json``;
  the report finds its PII and dedup stages by category, so a stage labelled ``scrub`` is still the
  PII stage.
- **Lineage keys**: the fields of a checkpoint's ``lineage.json`` that the trainer writes and
  ``thresher report MODEL_DIR`` and ``thresher forget`` read by exact name.

The module imports nothing: the trainer's small base may import it without the pipeline.
"""

from __future__ import annotations

# ---- document metadata: written by readers (input fields and crawl headers)
URL = "url"  # the page's URL (WARC-Target-URI, or the input record's own field)
LICENCE_KEYS = ("license", "licence")  # an input's licence field, either spelling
CONTENT_TYPE = "content_type"  # WARC reader: MIME type of the record
FETCH_DATE = "fetch_date"  # WARC reader: WARC-Date, when the page was fetched (the report's crawl period)
WARC_FILE = "warc_file"  # WARC reader: the file and byte offset the record was read from
WARC_OFFSET = "warc_offset"
HTTP_STATUS = "http_status"  # WARC reader: the response's HTTP status
X_ROBOTS_TAG = "x_robots_tag"  # WARC reader: the X-Robots-Tag header (read by `rights`)

# ---- document metadata: written by stages
FLAGS = "flags"  # every negative decision, [{"stage", "reason"}] (`Document.flag`); reserved in inputs
EXTRACTOR = "extractor"  # extract: the backend that produced the text (a page is extracted once)
EXTRACT_ERROR = "extract_error"  # extract: why the backend failed on the page
TITLE = "title"  # extract: the page's <title>, <html lang>, canonical link and publication date
HTML_LANG = "html_lang"
CANONICAL_URL = "canonical_url"
PUBLISHED = "published"
ROBOTS_META = "robots"  # extract: the page's <meta name="robots"> directives (read by `rights`)
TDM_RESERVATION = "tdm_reservation"  # extract: the page's TDMRep <meta name="tdm-reservation">
LANGUAGE = "language"  # language: the detected language code
LANGUAGE_SCORE = "language_score"  # language: the detector's probability for it
QUALITY_SCORE = "quality_score"  # quality_classifier: the classifier's score
SCORE_SUFFIX = "_score"  # a numeric score in [0, 1] a stage writes ends so; the report bins every one
PII = "pii"  # pii: findings per entity type in the document, {entity: count} (counts, never values)
PII_COUNTER = "pii."  # pii: prefix of its stats.json counters (pii.<ENTITY>.<action>, pii.docs_with_pii), read by the report
DEDUP_CLUSTER = "dedup_cluster"  # dedup_minhash: id of the kept document representing the cluster
DEDUP_CLUSTER_SIZE = "dedup_cluster_size"  # dedup_minhash: documents in the near-duplicate cluster

# ---- stage categories (`Stage.category`, ``stats.json`` ``stages[].category``)
READ = "read"  # the reader's row in the ledger (records read, quarantined, skipped)
EXTRACT = "extract"
NORMALIZE = "normalize"
LANGUAGE_ID = "language"
QUALITY = "quality"
DEDUP = "dedup"
PII_CATEGORY = "pii"
DECONTAMINATE = "decontaminate"
RIGHTS = "rights"  # rightsholders' opt-outs (robots, TDMRep, opt-out lists)
SAFETY = "safety"  # blocklists: content removed as illegal or harmful (url_filter)
TOKENIZE = "tokenize"
OTHER = "other"  # a stage that declares none (a user's own stage before it says what it does)
CATEGORIES = (READ, EXTRACT, NORMALIZE, LANGUAGE_ID, QUALITY, DEDUP, PII_CATEGORY, DECONTAMINATE, RIGHTS, SAFETY,
              TOKENIZE, OTHER)

# ---- lineage.json (trainer checkpoints and exports)
LINEAGE_FILE = "lineage.json"
TASK = "task"  # pretrain, sft or dpo
TOKENS_MANIFEST_SHA256 = "tokens_manifest_sha256"  # sha256 of the run's tokens/manifest.json (one source)
CORPUS_MERKLE_ROOT = "corpus_merkle_root"  # the corpus run's Merkle root (its manifest's MERKLE_ROOT)
DATA_SHA256 = "data_sha256"  # what the data hash is: tokens manifest, mixture, or SFT/DPO file
DATA = "data"  # the data path (a tokens folder or a file), or the list of a mixture's folders
MIXTURE = "mixture"  # a train-time mixture: [{MIX_PATH, MIX_WEIGHT, CORPUS_MERKLE_ROOT}]
MIX_PATH = "path"
MIX_WEIGHT = "weight"
TOKENIZER_SHA256 = "tokenizer_sha256"
EOS_ID = "eos_id"
CONFIG_SHA256 = "config_sha256"
SEED = "seed"
SEQ_LEN = "seq_len"
VAL_FRACTION = "val_fraction"
STEP = "step"
SAMPLES_CONSUMED = "samples_consumed"
TOKENS_CONSUMED = "tokens_consumed"
BATCH_SCHEDULE = "batch_schedule"
VERSIONS = "versions"
FROM_PRETRAINED = "from_pretrained"  # {SOURCE_PATH, SOURCE_LINEAGE}: the export this run started from
SOURCE_PATH = "path"
SOURCE_LINEAGE = "lineage"
INIT_FROM = "init_from"
SFT_TRUNCATED = "sft_truncated"

# ---- the corpus run's manifest.json, as the trainer and the model report read it
MERKLE_ROOT = "merkle_root"
