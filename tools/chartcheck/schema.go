package main

// values.schema.json, checked as helm 3 checks it (gojsonschema, the
// library helm used up to 3.17), with helm's error text:
//   values don't meet the specifications of the schema(s) in the following chart(s):
//   switchboard:
//   - broadcaster: Additional property replicas is not allowed

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/xeipuuv/gojsonschema"
)

// validateValues returns nil, or helm's error listing every violation.
func validateValues(chartName string, schema []byte, values map[string]interface{}) error {
	if schema == nil {
		return nil
	}
	doc, err := json.Marshal(values)
	if err != nil {
		return err
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schema), gojsonschema.NewBytesLoader(doc))
	if err != nil {
		return fmt.Errorf("values.schema.json: %v", err)
	}
	if result.Valid() {
		return nil
	}
	var sb strings.Builder
	sb.WriteString("values don't meet the specifications of the schema(s) in the following chart(s):\n")
	sb.WriteString(chartName + ":\n")
	// Sorted (helm prints them in gojsonschema's map order), so that runs
	// compare.
	var lines []string
	for _, e := range result.Errors() {
		lines = append(lines, fmt.Sprintf("- %s\n", e))
	}
	sort.Strings(lines)
	for _, l := range lines {
		sb.WriteString(l)
	}
	return fmt.Errorf("%s", strings.TrimSuffix(sb.String(), "\n"))
}

// checkSchemaItself loads the schema on its own, so that an invalid schema
// is reported as such rather than as a values error.
func checkSchemaItself(schema []byte) error {
	var any interface{}
	if err := json.Unmarshal(schema, &any); err != nil {
		return fmt.Errorf("values.schema.json is not JSON: %v", err)
	}
	_, err := gojsonschema.NewSchema(gojsonschema.NewBytesLoader(schema))
	return err
}
