/** The offline GraphQL IDE served to browsers at GET /graphql: GraphiQL bundled with its styles, no CDN. */
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { createRoot } from 'react-dom/client';
import { createFetcher } from './fetcher';
import './ide.css';

const DEFAULT_QUERY = `# Sign in (or signUp), then paste the token
# in the headers editor below:
#   {"Authorization": "Bearer <token>"}
# Subscriptions run over graphql-ws and send
# that header as connectionParams.authorization.
mutation SignIn {
  signIn(input: { email: "ann@example.com", password: "password123" }) {
    token
    user { id firstName }
  }
}
`;

const DEFAULT_HEADERS = `{"Authorization": "Bearer <token from signIn>"}`;

const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
const fetcher = createFetcher(`${location.origin}/graphql`, `${scheme}://${location.host}/graphql`);

const container = document.getElementById('graphiql');
if (container) {
  createRoot(container).render(
    <GraphiQL
      fetcher={fetcher}
      defaultQuery={DEFAULT_QUERY}
      defaultHeaders={DEFAULT_HEADERS}
      defaultEditorToolsVisibility="headers"
      isHeadersEditorEnabled
    />,
  );
}
