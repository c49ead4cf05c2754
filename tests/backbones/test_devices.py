"""The device a backbone runs on: refused with a clear message before any work where this machine lacks it."""

import pytest
import torch

from mgmtfeat.backbones import check_device, create_backbone, native_bfloat16, native_bfloat16_on
from mgmtfeat.cli import extract
from mgmtfeat.data.synthetic import write_cohort

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal where torch sees no GPU")


def test_a_device_is_parsed_or_refused_with_what_to_give():
    assert check_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="--device cdua: not a torch device; give cpu, cuda or cuda:N"):
        check_device("cdua")
    assert native_bfloat16_on("cpu") == native_bfloat16()


@NO_CUDA
def test_cuda_without_a_gpu_is_refused_by_the_library_and_before_extract_writes_anything(tmp_path, capsys):
    with pytest.raises(ValueError, match="this torch sees no CUDA device .*leave --device out to run on the CPU"):
        check_device("cuda:0")
    with pytest.raises(ValueError, match="sees no CUDA device"):
        create_backbone("i3d", weights="random", device="cuda")
    assert native_bfloat16_on("cuda") is False
    data = write_cohort(tmp_path / "brats", "brats2021", n_cases=1, shape=(24, 24, 12), seed=3)
    for pathway in (["--net", "i3d"], ["--net", "resnet50", "--pathway", "slices"]):
        assert extract.main(["--data", str(data), "--out", str(tmp_path / "store"), *pathway, "--device", "cuda",
                             "--quiet"]) == 2
        assert "error: --device cuda: this torch sees no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "store").exists()
