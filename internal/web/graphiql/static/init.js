// Starts GraphiQL on index.html. It lives in its own file, not in the page,
// so that the page's Content-Security-Policy can refuse inline scripts.
//
// Queries and mutations go to the endpoint over HTTP POST, subscriptions
// over a WebSocket to the same endpoint (graphql-ws), as gqlgen's stock
// page does.
(function () {
  'use strict';
  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint') || '/query';
  var wsProto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({
    url: location.protocol + '//' + location.host + endpoint,
    subscriptionUrl: wsProto + '//' + location.host + endpoint,
  });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
    }),
  );
})();
