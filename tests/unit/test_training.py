from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from pipeline.model.bundle import ModelBundle  # noqa: E402
from pipeline.model.encoding import TextEncoder  # noqa: E402
from pipeline.model.preprocessing import preprocess  # noqa: E402
from pipeline.model.runtime import ModelRuntime  # noqa: E402
from pipeline.training.data import (  # noqa: E402
    DataFileError,
    DataSource,
    LabeledRow,
    dev_split,
    load_rows,
)
from pipeline.training.model import IGNORE, multitask_loss  # noqa: E402


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_loads_csv_names_and_jsonl_ids(tmp_path: Path) -> None:
    csv_file = _write(
        tmp_path, "a.csv", 'text,sentiment,topic\n"Oil, up",Bullish,Energy | Oil\nx,negative,\n'
    )
    jsonl = _write(
        tmp_path, "b.jsonl", '{"text": "Fed", "topic": 1}\n\n{"text": "IPO", "topic": "ipo"}\n'
    )
    rows = load_rows([DataSource(csv_file), DataSource(jsonl)])
    assert rows == [
        LabeledRow("Oil, up", 6, 2),
        LabeledRow("x", None, 0),
        LabeledRow("Fed", 1, None),
        LabeledRow("IPO", 11, None),
    ]


def test_maps_a_label_column_with_twitter_financial_ids(tmp_path: Path) -> None:
    path = _write(tmp_path, "sent.csv", "text,label\nbear,0\nbull,1\nflat,2\n")
    rows = load_rows([DataSource.parse(f"{path}:label=sentiment")])
    assert [r.sentiment for r in rows] == [0, 2, 1]  # negative, positive, neutral
    assert all(r.topic is None for r in rows)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("e.csv", "", "empty", id="empty csv"),
        pytest.param("e.jsonl", "\n\n", "holds no rows", id="empty jsonl"),
        pytest.param(
            "m.csv", "body,sentiment\nx,negative\n", "m.csv:2: missing column 'text'", id="no text"
        ),
        pytest.param("n.csv", "text,score\nx,1\n", "no label column", id="no label column"),
        pytest.param(
            "u.csv",
            "text,sentiment\nx,angry\n",
            "u.csv:2: unknown sentiment label 'angry'",
            id="unknown label",
        ),
        pytest.param(
            "t.jsonl",
            '{"text": "a", "topic": 99}\n',
            "unknown topic label '99'",
            id="unknown topic id",
        ),
        pytest.param(
            "b.csv",
            b"text,sentiment\ncaf\xe9,negative\n",
            "b.csv:2: not valid UTF-8",
            id="bad encoding",
        ),
        pytest.param(
            "j.jsonl",
            '{"text": "a", "topic": 1}\n{oops\n',
            "j.jsonl:2: not valid JSON",
            id="bad json",
        ),
        pytest.param("w.csv", "text,sentiment\n   ,negative\n", "empty text", id="blank text"),
        pytest.param(
            "l.csv",
            "text,sentiment,topic\nx,,\n",
            "neither a topic nor a sentiment",
            id="unlabeled row",
        ),
    ],
)
def test_bad_files_are_refused_with_a_clear_error(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = _write(tmp_path, name, content)
    with pytest.raises(DataFileError, match=message.replace("|", r"\|")):
        load_rows([DataSource(path)])


def test_missing_file_and_bad_mapping(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no such file"):
        load_rows([DataSource(tmp_path / "none.csv")])
    with pytest.raises(DataFileError, match="COLUMN=topic"):
        DataSource.parse("x.csv:label=mood")


def test_dev_split_is_seeded_stratified_and_disjoint() -> None:
    rows = [LabeledRow(f"t{i}", i % 4, None) for i in range(200)] + [LabeledRow("solo", 9, None)]
    train, dev = dev_split(rows, 0.1, seed=5)
    assert (train, dev) == dev_split(rows, 0.1, seed=5)
    assert dev != dev_split(rows, 0.1, seed=6)[1]
    assert {r.text for r in train}.isdisjoint(r.text for r in dev)
    assert len(train) + len(dev) == len(rows)
    assert Counter(r.topic for r in dev) == {0: 5, 1: 5, 2: 5, 3: 5}
    assert "solo" in {r.text for r in train}


def test_multitask_loss_masks_unlabeled_rows() -> None:
    topic_logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    sentiment_logits = torch.tensor([[0.0, 0.0, 3.0], [1.0, 0.0, 0.0]])
    labels = (torch.tensor([0, IGNORE]), torch.tensor([IGNORE, IGNORE]))
    loss = multitask_loss((topic_logits, sentiment_logits), labels, (1.0, 1.0))
    only_first = torch.nn.functional.cross_entropy(topic_logits[:1], torch.tensor([0]))
    assert loss.item() == pytest.approx(only_first.item())
    weighted = multitask_loss(
        (topic_logits, sentiment_logits),
        (torch.tensor([0, 1]), torch.tensor([2, IGNORE])),
        (0.5, 2.0),
    )
    expected = 0.5 * torch.nn.functional.cross_entropy(topic_logits, torch.tensor([0, 1]))
    expected += 2.0 * torch.nn.functional.cross_entropy(sentiment_logits[:1], torch.tensor([2]))
    assert weighted.item() == pytest.approx(expected.item())


def test_training_lowers_the_loss(test_bundle: ModelBundle) -> None:
    history = test_bundle.manifest.training["history"]
    assert len(history) >= 5
    assert history[-1]["train_loss"] < 0.8 * history[0]["train_loss"]
    assert test_bundle.manifest.training["best_epoch"] >= 1


TRICKY = [
    "S&amp;P 500 &gt; record https://t.co/abc @trader $SPY",
    "Ｆｅｄ   holds\nrates",
    "Oil jumps [SEP] OPEC agrees to cut output",
]


def test_training_and_serving_see_the_same_token_ids(
    test_bundle: ModelBundle, tmp_path: Path
) -> None:
    from pipeline.training.train import _encode

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": t, "sentiment": "neutral"}) + "\n" for t in TRICKY))
    rows = load_rows([DataSource(data)])
    training_ids = _encode(TextEncoder(test_bundle.file("tokenizer"), 64), rows).ids
    runtime = ModelRuntime(test_bundle, provider="cpu")
    try:
        assert runtime.token_ids(TRICKY) == training_ids
    finally:
        runtime.close()


def test_token_ids_match_the_transformers_tokenizer(test_bundle: ModelBundle) -> None:
    from transformers import PreTrainedTokenizerFast

    reference = PreTrainedTokenizerFast(tokenizer_file=str(test_bundle.file("tokenizer")))
    ours = TextEncoder(test_bundle.file("tokenizer"), 64).token_ids(TRICKY)
    theirs = [reference(preprocess(t), truncation=True, max_length=64)["input_ids"] for t in TRICKY]
    assert ours == theirs
    sep = reference.convert_tokens_to_ids("[SEP]")
    assert sep in ours[2][1:-1]  # the headline/body separator stays a real [SEP]


def test_continued_training_starts_from_a_checkpoint_and_never_trains_on_its_dev_file(
    test_bundle: ModelBundle, tmp_path: Path
) -> None:
    from pipeline.training.checkpoint import Checkpoint
    from pipeline.training.testbundle import checkpoint_of_test_bundle
    from pipeline.training.train import TrainConfig, train

    start = checkpoint_of_test_bundle(test_bundle.path)
    rows = [
        {"text": f"Acme {word} quarterly profit {n}", "sentiment": label}
        for n, (word, label) in enumerate(
            [("raises", "positive"), ("cuts", "negative"), ("reports", "neutral")] * 8
        )
    ]
    data = _write(tmp_path, "rows.jsonl", "\n".join(json.dumps(r) for r in rows))
    dev = _write(tmp_path, "dev.jsonl", "\n".join(json.dumps(r) for r in rows[:6]))
    config = TrainConfig(
        sources=[DataSource(data)],
        base=start,
        epochs=1,
        batch_size=8,
        max_length=16,
        init_checkpoint=start,
        dev_file=dev,
    )
    result = train(config, tmp_path / "continued")
    meta = result.checkpoint.meta["training"]
    assert (meta["rows_train"], meta["rows_dev"]) == (18, 6)
    assert meta["hyperparameters"]["init_checkpoint"] == str(start)
    # The weights moved from the starting checkpoint's, not from a fresh base.
    before = Checkpoint.open(start).load_model().state_dict()
    after = Checkpoint.open(tmp_path / "continued").load_model().state_dict()
    name = "sentiment_head.weight" if "sentiment_head.weight" in before else next(iter(before))
    assert before[name].shape == after[name].shape
    assert not torch.equal(before[name], after[name])
    assert torch.allclose(before[name], after[name], atol=0.5)


def test_distillation_loss_is_the_labels_term_when_the_student_matches_its_teacher() -> None:
    from pipeline.training.distill import Distillation, distillation_loss

    distill = Distillation(teacher=Path("unused"), temperature=2.0, soft_weight=0.7)
    student = (torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[0.5, 0.2, 0.1]]))
    unlabeled = (torch.tensor([IGNORE]), torch.tensor([IGNORE]))
    same = distillation_loss(student, student, unlabeled, (1.0, 1.0), distill)
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    other = (torch.tensor([[-1.0, 0.0, 2.0]]), student[1])
    assert float(distillation_loss(student, other, unlabeled, (1.0, 1.0), distill)) > 0.1
    labeled = (torch.tensor([0]), torch.tensor([IGNORE]))
    ce = torch.nn.functional.cross_entropy(student[0], labeled[0])
    loss = distillation_loss(student, student, labeled, (1.0, 1.0), distill)
    assert float(loss) == pytest.approx(0.3 * float(ce), rel=1e-5)


def test_a_distilled_student_keeps_the_chosen_layers_and_learns_from_unlabeled_text(
    test_bundle: ModelBundle, tmp_path: Path
) -> None:
    from pipeline.training.checkpoint import Checkpoint
    from pipeline.training.distill import Distillation
    from pipeline.training.testbundle import checkpoint_of_test_bundle
    from pipeline.training.train import TrainConfig, train

    start = checkpoint_of_test_bundle(test_bundle.path)
    teacher = Checkpoint.open(start).load_model()
    layers = teacher.config.num_hidden_layers
    rows = [
        {"text": f"Acme {word} profit {n}", "sentiment": label}
        for n, (word, label) in enumerate([("raises", "positive"), ("cuts", "negative")] * 6)
    ]
    data = _write(tmp_path, "rows.jsonl", "\n".join(json.dumps(r) for r in rows))
    plain = _write(
        tmp_path, "plain.jsonl", "\n".join(json.dumps({"text": f"t {n}"}) for n in range(5))
    )
    distill = Distillation(teacher=start, student_layers=(layers - 1,), unlabeled=plain)
    config = TrainConfig(
        sources=[DataSource(data)],
        base=start,
        epochs=1,
        batch_size=4,
        max_length=16,
        init_checkpoint=start,
        dev_fraction=0.25,
        distill=distill,
    )
    result = train(config, tmp_path / "student")
    student = Checkpoint.open(tmp_path / "student").load_model()
    assert student.config.num_hidden_layers == 1
    assert len(student.encoder.encoder.layer) == 1
    meta = result.checkpoint.meta
    assert meta["base"]["layers"] == 1
    assert meta["training"]["rows_train"] == 8 + 5  # 12 rows less a 2-per-class dev carve, + text
    assert meta["training"]["hyperparameters"]["distill"]["student_layers"] == [layers - 1]


def test_teacher_logits_come_back_in_row_order(test_bundle: ModelBundle) -> None:
    from pipeline.training.checkpoint import Checkpoint
    from pipeline.training.distill import Distillation
    from pipeline.training.testbundle import checkpoint_of_test_bundle

    start = checkpoint_of_test_bundle(test_bundle.path)
    encoder = TextEncoder(Checkpoint.open(start).tokenizer, 32)
    texts = ["Acme plunges after the lawsuit and regulator probe today", "Acme soars", "x y"]
    ids = encoder.token_ids(texts)  # lengths out of order: the teacher runs them sorted
    topic, sentiment = Distillation(teacher=start).teacher_logits(ids, encoder)
    model = Checkpoint.open(start).load_model()
    for row, text_ids in enumerate(ids):
        padded = encoder.pad([text_ids])
        with torch.no_grad():
            one = model(*(torch.from_numpy(v) for v in padded.feed().values()))
        assert torch.allclose(topic[row], one[0][0], atol=1e-4)
        assert torch.allclose(sentiment[row], one[1][0], atol=1e-4)
