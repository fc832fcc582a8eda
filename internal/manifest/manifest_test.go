package manifest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadListAndDocuments(t *testing.T) {
	data := []byte(`
apiVersion: v1
kind: List
items:
- apiVersion: batch/v1
  kind: CronJob
  metadata: {name: nightly, namespace: batch}
  spec: {schedule: "0 2 * * *", jobTemplate: {spec: {template: {spec: {containers: []}}}}}
- apiVersion: batch/v1
  kind: Job
  metadata: {name: nightly-1, namespace: batch}
  spec: {backoffLimit: 2, template: {spec: {containers: []}}}
---
apiVersion: v1
kind: Pod
metadata: {name: nightly-1-a, namespace: batch}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: batch}
---
`)
	var objs Objects
	require.NoError(t, objs.Read("dump.yaml", data))

	require.Len(t, objs.CronJobs, 1)
	assert.Equal(t, "0 2 * * *", objs.CronJobs[0].Spec.Schedule)
	require.Len(t, objs.Jobs, 1)
	assert.Equal(t, int32(2), *objs.Jobs[0].Spec.BackoffLimit)
	require.Len(t, objs.Pods, 1)
	require.Len(t, objs.Skipped, 1)
	assert.Contains(t, objs.Skipped[0], "dump.yaml: document 3: apps/v1 Deployment batch/web")
}

func TestReadJSONList(t *testing.T) {
	data := []byte(`{"apiVersion":"v1","kind":"List","items":[
		{"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"a","namespace":"b"},"spec":{"template":{"spec":{"containers":[]}}}}]}`)
	var objs Objects
	require.NoError(t, objs.Read("dump.json", data))
	assert.Len(t, objs.Jobs, 1)
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"list items not a list", "apiVersion: v1\nkind: List\nitems: 3\n", "dump.yaml: document 1: List items is not a list"},
		{"list item not an object", "apiVersion: v1\nkind: List\nitems: [3]\n", "List item 0 is not an object"},
		{"wrong field type in a list item", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: batch/v1, kind: CronJob, metadata: {name: x, namespace: ops}, spec: {suspend: maybe}}\n",
			"dump.yaml: document 1: item 0: CronJob ops/x: invalid object"},
		{"scalar document", "just text\n", "dump.yaml: document 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs Objects
			err := objs.Read("dump.yaml", []byte(tt.data))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func FuzzRead(f *testing.F) {
	for _, seed := range []string{
		"apiVersion: v1\nkind: List\nitems:\n- {apiVersion: batch/v1, kind: Job, metadata: {name: a}}\n",
		"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: a}\nspec: {schedule: '* * * * *', startingDeadlineSeconds: 30}\n---\nkind: Pod\napiVersion: v1\n",
		`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"status":{"phase":"Failed"}}`,
		"kind: JobList\nitems: [{kind: Job, apiVersion: batch/v1}]\n",
		"---\n---\n",
		"apiVersion: batch/v1\nkind: Job\nspec: {backoffLimit: 1e400}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var objs Objects
		// Any input must end in objects or an error, never a panic.
		if err := objs.Read("fuzz.yaml", data); err != nil {
			return
		}
		for _, job := range objs.Jobs {
			if job == nil {
				t.Fatal("nil Job decoded")
			}
		}
	})
}
