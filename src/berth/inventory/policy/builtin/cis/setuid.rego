# CIS Docker Benchmark 4.8: remove setuid and setgid permissions from the image's files.
package berth.cis

import rego.v1

deny contains msg if {
	some file in input.image.files
	some bit in {"setuid", "setgid"}
	bit in file.facts
	msg := sprintf("CIS-4.8: %s is %s", [file.path, bit])
}
