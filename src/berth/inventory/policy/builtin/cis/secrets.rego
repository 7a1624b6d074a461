# CIS Docker Benchmark 4.10: do not store secrets in the image, in its environment or its layers.
package berth.cis

import rego.v1

# Matched against the upper-cased name (rego-cpp's regular expressions take no (?i) flag).
secret_names := `PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE_KEY|ACCESS_KEY|API_KEY|CREDENTIAL`

secret_values := `(AKIA|ASIA)[A-Z0-9]{16}|-----BEGIN [A-Z ]*PRIVATE KEY-----`

deny contains msg if {
	some entry in object.get(object.get(input.image.config, "config", {}), "Env", [])
	[name, value] := split_env(entry)
	value != ""
	regex.match(secret_names, upper(name))
	msg := sprintf("CIS-4.10: the environment variable %s looks like a secret", [name])
}

deny contains msg if {
	some entry in object.get(object.get(input.image.config, "config", {}), "Env", [])
	[name, value] := split_env(entry)
	not regex.match(secret_names, upper(name))
	regex.match(secret_values, value)
	msg := sprintf("CIS-4.10: the environment variable %s holds a key", [name])
}

deny contains msg if {
	some file in input.image.files
	some fact in file.facts
	startswith(fact, "secret:")
	msg := sprintf("CIS-4.10: %s holds a secret (%s)", [file.path, substring(fact, 7, -1)])
}

split_env(entry) := [name, value] if {
	i := indexof(entry, "=")
	i >= 0
	name := substring(entry, 0, i)
	value := substring(entry, i + 1, -1)
}

split_env(entry) := [entry, ""] if indexof(entry, "=") < 0
