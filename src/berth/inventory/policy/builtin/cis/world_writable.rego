# World-writable files let any user in the container change what others run or read.
package berth.cis

import rego.v1

deny contains msg if {
	some file in input.image.files
	"world-writable" in file.facts
	msg := sprintf("world-writable: %s is writable by every user", [file.path])
}
