"""For nbgrader's generate_assignment: release notebooks with the placeholder id.

nbgrader copies cells that are not solutions as they are, so a released notebook would
keep the solutions' `STUDENT = "example-student"` -- and every student who does not
change it would share that one variant. Put this preprocessor first in the course's
nbgrader_config.py (the README shows how) and the student cell says
`STUDENT = "your-id"`, as `cowlab assign` writes it; `cowlab grade` refuses that id.
"""
from nbconvert.preprocessors import Preprocessor

from .assign import STUDENT_PLACEHOLDER, is_student_cell


class StudentPlaceholder(Preprocessor):
    """Set the student cell to `STUDENT = "your-id"`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.enabled = True                 # nbconvert's default is off

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_student_cell(cell):
            cell.source = f'STUDENT = "{STUDENT_PLACEHOLDER}"'
        return cell, resources
