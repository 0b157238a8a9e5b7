"""`cgcnn explain --html/--png`: the page is loaded in a real browser (headless Chromium, Debian's
`chromium`; .ci/run installs it), which must draw every atom, show the structure in its screenshot and log
no console error; the PNGs are real pictures."""

import shutil
import subprocess

import numpy as np
import pytest
from conftest import embedded_rows, write_table
from matplotlib.image import imread

from cgcnn.apps.explain import explain_files
from cgcnn.errors import InputError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def browser(page, *args):
    """(stdout, console lines) of headless Chromium on a local page."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--enable-logging=stderr", "--v=0", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    return done.stdout, [line for line in done.stderr.splitlines() if "CONSOLE" in line]


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explained")
    more = embedded_rows(7)
    rows = embedded_rows(4) + [{"id": "a/POSCAR</script>", "cif": more[4]["cif"]},  # hostile ids
                               {"id": "<!--<script>", "cif": more[5]["cif"]},
                               {"id": "A_POSCAR_script", "cif": more[6]["cif"]}]  # the first's file name
    table = write_table(folder / "crystals.csv", rows, ["id", "cif"])
    report = explain_files("formation-energy", [table], folder / "sites.csv", html=folder / "page.html",
                           png=folder / "pictures")
    return folder, report


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium; CI installs it)")
def test_the_page_renders_every_atom_in_a_browser(explained):
    folder, report = explained
    page = folder / "page.html"
    text = page.read_text()
    assert "<script src" not in text and "http" not in text.replace("http://www.w3.org/2000/svg", "")  # offline
    dom, console = browser(page, "--dump-dom")
    assert console == []  # no error (nor any message) in the console
    assert dom.count("<circle") == report["sites"]  # every atom drawn by the page's script
    assert dom.count("<tr>") == report["sites"] + 1  # the table: a header and a row per site
    assert "a/POSCAR&lt;/script&gt;" in dom and "&lt;!--&lt;script&gt;" in dom  # ids shown as text, not run
    _, console = browser(page, f"--screenshot={folder / 'shot.png'}", "--window-size=1100,900")
    assert console == []
    shot = imread(folder / "shot.png")[..., :3]
    bluish = (shot[..., 2] - shot[..., 0] > 0.2).sum()  # atoms with negative contributions are blue
    assert bluish > 2000, "the screenshot shows no coloured atoms"


def test_pictures_of_each_crystal(explained):
    folder, report = explained
    pictures = sorted((folder / "pictures").iterdir())
    assert report["pictures"] == len(pictures) == 7
    names = [p.name for p in pictures]
    assert "a_POSCAR_script.png" in names and "A_POSCAR_script-2.png" in names  # safe, and none overwritten
    image = imread(pictures[0])[..., :3]
    assert image.shape[0] > 300 and np.std(image) > 0.05  # not blank


def test_an_unbounded_interval_and_hostile_text_keep_the_data_parseable(tmp_path):
    import json
    import re

    from cgcnn.apps.explain_views import crystal_record, write_page

    record = crystal_record("<!--<script>", ["Na"], np.zeros((1, 3)), np.eye(3) * 3, np.array([0.1]), 0.1,
                            (-np.inf, np.inf))
    write_page(tmp_path / "p.html", [record], "y", "eV", "m&<b>")
    text = (tmp_path / "p.html").read_text()
    data = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S).group(1)
    assert "<" not in data and "Infinity" not in data
    assert json.loads(data)["crystals"][0]["interval"] == [None, None]


def test_the_page_cannot_overwrite_the_sites_csv(tmp_path):
    table = write_table(tmp_path / "c.csv", embedded_rows(2), ["id", "cif"])
    with pytest.raises(Exception, match="is also --out"):
        explain_files("formation-energy", [table], tmp_path / "x.html", html=tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_a_png_folder_that_is_a_file_is_one_clear_error(tmp_path):
    table = write_table(tmp_path / "c.csv", embedded_rows(2), ["id", "cif"])
    (tmp_path / "pictures").write_text("not a folder")
    with pytest.raises(InputError, match="is a file; --png takes a folder"):
        explain_files("formation-energy", [table], tmp_path / "x.csv", png=tmp_path / "pictures")
    with pytest.raises(InputError, match="is not a folder \\(a file is in the way\\)"):  # below a file
        explain_files("formation-energy", [table], tmp_path / "x.csv", png=tmp_path / "pictures" / "a")
    assert not (tmp_path / "x.csv").exists()
