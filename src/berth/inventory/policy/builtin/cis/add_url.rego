# CIS Docker Benchmark 4.9: use COPY instead of ADD (ADD fetching a URL is unchecked remote content).
package berth.cis

import rego.v1

deny contains msg if {
	some step in input.image.history
	regex.match(`(^|\s|\))ADD\s+(--\S+\s+)*https?://`, object.get(step, "created_by", ""))
	msg := sprintf("CIS-4.9: a layer was added from a URL: %s", [step.created_by])
}
