# Quick start: `make book` (build the website) and `make test` (run all tests).
# Both create and fill a virtual environment in .venv the first time; later runs reuse it.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Override for another build, e.g. make TORCH="torch --index-url https://download.pytorch.org/whl/cpu"
TORCH  ?= torch==2.13.0

export MMCL_EDU_PROGRESS ?= 0

.PHONY: book test install clean student student-test leak-test site-test assignments grade-test

book: $(STAMP)
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo
	@echo "Book built: open $(CURDIR)/_build/html/index.html"

test: $(STAMP)
	$(BIN)/python -m pytest

install: $(STAMP)

# Reinstalled only when requirements.txt or pyproject.toml is newer than the stamp.
$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install -e .
	touch $(STAMP)

# Student version: notebooks with exercise stubs and no solutions in _student/, and its website
# (not executed: students run the notebooks) in _student/_build/html. See book/how-to-use.md.
student: $(STAMP)
	$(BIN)/python scripts/make_student.py --out _student
	$(BIN)/jupyter-book build _student -W -n --keep-going

# Every student notebook runs top to bottom with the stubs (smoke size, hidden assertions skipped).
student-test: $(STAMP)
	$(BIN)/python -m pytest tests_site/test_student_runall.py

# No solution text anywhere in the student notebooks or site (run after `make student`).
leak-test: $(STAMP)
	$(BIN)/python -m pytest tests_site/test_zero_leaks.py

# The built sites (run `make book` and `make student` first) in headless Chromium with no network: every page
# loads without errors, math is typeset, figures load, exercises and (instructor only) solutions, launch
# links, search. Needs Debian's chromium (apt-get install chromium); Playwright drives it, no browser download.
PLAYWRIGHT := playwright==1.65.2
site-test: $(STAMP)
	$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/python -m pip install -q "$(PLAYWRIGHT)"
	$(BIN)/python -m pytest tests_site/test_browser.py

# nbgrader course of the assignments, from the same instructor notebooks: _assignments/ (source/, the
# config, points.md). Release, collect and autograde there with nbgrader (see the instructor guide).
assignments: $(STAMP)
	$(BIN)/python scripts/make_assignments.py --out _assignments

# nbgrader in its own environment (it pulls JupyterLab); its kernel "mmcl-edu" runs the book's .venv.
GRADER := .venv-grader
$(GRADER)/.installed: requirements-grader.txt $(STAMP)
	test -x $(GRADER)/bin/python || $(PYTHON) -m venv $(GRADER)
	$(GRADER)/bin/python -m pip install -r requirements-grader.txt
	$(BIN)/python -m ipykernel install --prefix $(GRADER) --name mmcl-edu --display-name "Python (mmcl-edu)"
	touch $@

# Every chapter released with nbgrader; one Part I and one Part III chapter validated and autograded for three
# submissions (full marks, zero, one wrong answer), scores read from the gradebook.
grade-test: assignments $(GRADER)/.installed
	MMCL_EDU_GRADER=$(CURDIR)/$(GRADER) $(BIN)/python -m pytest tests_site/test_grading.py

clean:
	rm -rf _build _student _assignments
