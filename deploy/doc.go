// Package deploy holds no code: it is the home of Sluice's deployment files
// and of the test that checks them.
package deploy
