import pytest

from geoseek.models.specs import ModelSpecError, parse_spec


def test_named_and_default_specs():
    assert parse_spec("geoseek-default").kind == "default"
    assert parse_spec("default").kind == "default"
    s = parse_spec("RemoteCLIP-ViT-L-14")
    assert (s.kind, s.arch) == ("named", "ViT-L-14")
    assert parse_spec("georsclip-vit-b-32").arch == "ViT-B-32"


def test_open_clip_and_hub_specs():
    s = parse_spec("ViT-B-32:laion2b_s34b_b79k")
    assert (s.kind, s.arch, s.pretrained) == ("open_clip", "ViT-B-32", "laion2b_s34b_b79k")
    assert parse_spec("ViT-B-32").pretrained is None
    assert parse_spec("hf-hub:chendelong/RemoteCLIP").path == "chendelong/RemoteCLIP"


def test_local_paths(tmp_path, tiny_vit_config):
    ckpt = tmp_path / "w.pt"
    ckpt.write_bytes(b"x")
    s = parse_spec(f"{tiny_vit_config}:{ckpt}")
    assert (s.arch, s.pretrained) == (str(tiny_vit_config), str(ckpt))
    assert parse_spec(str(ckpt)).kind == "geoseek-checkpoint"
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "open_clip_config.json").write_text("{}")
    assert parse_spec(str(tmp_path / "d")).kind == "local-dir"


@pytest.mark.parametrize("bad,msg", [
    ("", "empty"),
    ("hf-hub:norepo", "ORG/REPO"),
    ("/no/such/model.json", "not found"),
    ("ViT-B-32:/no/such/ckpt.pt", "not found"),
    ("/no/such/ckpt.pt", "not found"),
])
def test_bad_specs_are_refused_clearly(bad, msg):
    with pytest.raises(ModelSpecError, match=msg):
        parse_spec(bad)
