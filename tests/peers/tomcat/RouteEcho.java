// An app behind Sekisho's proxy on embedded Tomcat, a servlet container, that says which of its
// servlet mappings answered a request, so a test can compare that with the skip_auth rule
// Sekisho applied. Tomcat drops `;parameters` from each segment, decodes, merges slashes and
// resolves dot segments before mapping; it refuses `%2F` and `\` (400) by default.
//
// Usage: java -cp 'target/tools/tomcat/*' tests/peers/tomcat/RouteEcho.java
// (prints "listening on PORT" once it accepts connections)

import java.io.IOException;
import java.nio.file.Files;

import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.apache.catalina.Context;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;

public class RouteEcho {
    static HttpServlet answer(String route) {
        return new HttpServlet() {
            @Override
            protected void service(HttpServletRequest req, HttpServletResponse res) throws IOException {
                String info = req.getPathInfo();
                String path = req.getServletPath() + (info == null ? "" : info);
                res.setContentType("application/json");
                res.setCharacterEncoding("UTF-8");
                res.getWriter().write("{\"route\":\"" + route + "\",\"path\":" + json(path) + "}");
            }
        };
    }

    static String json(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    public static void main(String[] args) throws Exception {
        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(Files.createTempDirectory("sekisho-tomcat-").toString());
        Connector connector = tomcat.getConnector();
        connector.setPort(0);
        connector.setProperty("address", "127.0.0.1");
        Context context = tomcat.addContext("", null);
        String[][] routes = {
            {"api", "/api/v4/*"}, {"hooks", "/hooks/*"}, {"admin", "/admin/*"}, {"other", "/"},
        };
        for (String[] route : routes) {
            Tomcat.addServlet(context, route[0], answer(route[0]));
            context.addServletMappingDecoded(route[1], route[0]);
        }
        tomcat.start();
        System.out.println("listening on " + connector.getLocalPort());
        tomcat.getServer().await();
    }
}
