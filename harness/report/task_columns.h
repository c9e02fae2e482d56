// The accuracy table's task columns, read from the registered task specs (tasks/specs.h): each
// spec's `report` block (tasks/task_spec.proto, ReportSpec) gives the column's group and
// averages, so a new task appears in `lra table` without a change here.
#ifndef LRA_HARNESS_REPORT_TASK_COLUMNS_H_
#define LRA_HARNESS_REPORT_TASK_COLUMNS_H_

#include <vector>

#include "harness/report/conventions.h"

namespace lra::report {

// Every registered task with a `report` block, in ListTasks() order. A spec without one (group
// unspecified) has no column.
std::vector<TaskColumn> TaskColumnsFromSpecs();

}  // namespace lra::report

#endif  // LRA_HARNESS_REPORT_TASK_COLUMNS_H_
