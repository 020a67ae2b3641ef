"""`slimtorch bench --data text:FILE --data-option test_fraction=0` (what the loader's own advice for a short file
suggests) leaves no test rows to measure on: one line saying so, not "the model rejects inputs of shape [5]...
takes token ids below 30522" about an empty batch."""

import slimtorch as st
from slimtorch.cli import main


def test_no_test_rows_is_said_as_such(tmp_path, capsys):
    st.save(st.models.build("minilm", pretrained=False, num_layers=1), tmp_path / "m")
    text = tmp_path / "s.txt"
    text.write_text("a first sentence\nanother one here\nand a third\n")
    code = main(["bench", str(tmp_path / "m"), "--data", f"text:{text}", "--data-option", "test_fraction=0",
                 "--repeats", "1", "--batch-sizes", "1", "--backends", "eager"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"slimtorch: error: --data: text:{text} leaves no test rows (test_fraction=0); bench measures on "
                   "the test split: give a test_fraction in (0, 1) and enough rows for both splits\n")
