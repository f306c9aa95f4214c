import pandas as pd

from clvframe.serving.cli import _export_scores


def test_scores_are_exported_like_a_run(tmp_path):
    scores = tmp_path / "scores.csv"
    pd.DataFrame(
        {
            "customer_id": ["007", "2", "3"],
            "clv": [5.0, 50.0, 20.0],
            "p_alive": [0.5, 0.9, 0.7],
            "segment": ["bottom", "top", "middle"],
        }
    ).to_csv(scores, index=False)
    target = tmp_path / "out" / "top.csv"
    _export_scores(
        str(scores),
        ("csv",),
        (f"export.csv.params.path={target}", "export.csv.params.segments=[top,bottom]"),
    )
    exported = pd.read_csv(target, dtype={"customer_id": str})
    # Highest CLV first, only the chosen segments, ids kept as text.
    assert exported["customer_id"].tolist() == ["2", "007"]
