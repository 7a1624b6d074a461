# CIS Docker Benchmark 4.1: create a user for the container (the image does not run as root).
package berth.cis

import rego.v1

image_user := object.get(object.get(input.image.config, "config", {}), "User", "")

runs_as_root if image_user in {"0", "root"}

runs_as_root if startswith(image_user, "0:")

runs_as_root if startswith(image_user, "root:")

deny contains "CIS-4.1: the image sets no USER, so it runs as root" if image_user == ""

deny contains msg if {
	runs_as_root
	msg := sprintf("CIS-4.1: the image runs as root (USER %s); set a non-root USER", [image_user])
}
