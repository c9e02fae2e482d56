#include "harness/report/task_columns.h"

#include <string>

#include "tasks/specs.h"

namespace lra::report {

std::vector<TaskColumn> TaskColumnsFromSpecs() {
  std::vector<TaskColumn> columns;
  for (const std::string& name : tasks::ListTasks()) {
    const tasks::TaskSpec& spec = **tasks::GetTaskSpec(name);
    const tasks::ReportSpec& report = spec.report();
    if (report.group() == tasks::TASK_GROUP_UNSPECIFIED) continue;
    TaskColumn c;
    c.key = spec.name();
    c.display_name = spec.display_name();
    c.extra = report.group() == tasks::TASK_GROUP_EXTRA;
    c.in_lra_average = report.in_lra_average();
    c.in_s4_average = report.in_s4_average();
    c.aliases.assign(report.aliases().begin(), report.aliases().end());
    if (!c.extra) c.published = ParseLraTask(spec.name());
    columns.push_back(std::move(c));
  }
  return columns;
}

}  // namespace lra::report
