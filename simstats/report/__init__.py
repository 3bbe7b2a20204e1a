"""Reports: plain words and tables on the console and as JSON (:mod:`.text`), HTML views and the standalone HTML
report (:mod:`.html`), the data summary of ``simstats data check`` (:mod:`.summary`), the rate model's report
(:mod:`.rates`) and the main job, ``simstats demo`` (:mod:`.demo`)."""

from simstats.report.html import html_report, write_html_report
from simstats.report.text import (
                                  condition_sentence,
                                  distribution_sentence,
                                  focus_persona,
                                  print_report,
                                  print_summary,
                                  public_report,
                                  sentences,
)

__all__ = ["condition_sentence", "distribution_sentence", "focus_persona", "html_report", "print_report",
           "print_summary", "public_report", "sentences", "write_html_report"]
