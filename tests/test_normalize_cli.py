"""`linkage normalize`: one source file in, input columns plus the normalised ones out (Parquet)."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from cli import app

REQUIRED = [
    "full_name_norm", "full_name_ascii", "family_name", "middle_name", "given_name", "name_phonetic", "aliases",
    "birth_year", "birth_month", "birth_day", "birth_precision", "id_kind", "id_birth_province", "id_gender",
    "id_birth_year",
]


def test_normalize_wanted(tmp_path):
    src = tmp_path / "w.csv"
    pd.DataFrame(
        {
            "Mã truy nã": ["W1", "W2"],
            "Họ và tên": ["NGUYỄN  VĂN HÙNG", "Tran Thi Hoa"],
            "Tên gọi khác": ["Hùng Sẹo; Tư", ""],
            "Ngày sinh": ["12/05/1985", "1990"],
            "Quê quán": ["Xã Hiệp Hòa, Tỉnh Tây Ninh", "Nghệ An"],
            "Số CCCD": ["001085012345", ""],
        }
    ).to_csv(src, index=False)
    out = tmp_path / "w.parquet"
    res = CliRunner().invoke(app, ["normalize", "--source", "wanted", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(out)
    for col in REQUIRED + [f"hometown_{c}" for c in ("province_code", "district_code", "ward_code",
                                                      "province_code_2025", "ward_code_2025", "confidence")]:
        assert col in df.columns, col
    assert df["full_name_norm"][0] == "Nguyễn Văn Hùng"
    assert df["full_name_ascii"][1] == "tran thi hoa"
    assert list(df["aliases"][0]) == ["Hùng Sẹo", "Tư"]
    assert df["birth_precision"].tolist() == ["day", "year"]
    assert df["id_birth_year"][0] == 1985 and df["id_gender"][0] == "M"
    assert df["hometown_province_code_2025"].tolist() == ["80", "40"]
