// Entry of the ACS calling bundle (scripts/build-calling.sh): the few classes the join page's call
// panel (static/js/join-call.js) needs, on window.AcsCalling. An IIFE rather than an ES module, so
// the panel can load it with a plain <script> only when a real call starts.
import { CallClient, LocalVideoStream, VideoStreamRenderer } from "@azure/communication-calling";
import { AzureCommunicationTokenCredential } from "@azure/communication-common";

window.AcsCalling = Object.freeze({
  CallClient,
  LocalVideoStream,
  VideoStreamRenderer,
  AzureCommunicationTokenCredential,
  // Set by the build from the installed packages, so the page can say what it runs.
  versions: Object.freeze(__ACS_VERSIONS__),
});
