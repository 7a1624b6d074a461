# A `latest` tag names no particular build: what runs changes under the same name.
package berth.cis

import rego.v1

deny contains msg if {
	some tag in input.image.tags
	endswith(tag, ":latest")
	msg := sprintf("latest-tag: the image is tagged %s; use a version or a digest", [tag])
}
