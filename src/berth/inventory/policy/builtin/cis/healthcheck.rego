# CIS Docker Benchmark 4.6: add a HEALTHCHECK instruction to the image.
package berth.cis

import rego.v1

healthcheck := object.get(object.get(input.image.config, "config", {}), "Healthcheck", {})

deny contains "CIS-4.6: the image has no HEALTHCHECK" if {
	object.get(healthcheck, "Test", []) in {[], ["NONE"]}
}
