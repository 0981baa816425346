// A local MIS in Java, as docs/integration.md ("Java: the JDK's HttpClient and jose4j") tells an integrator to write
// it: the JDK's default HttpClient (which offers an h2c upgrade on plain HTTP) and jose4j, which knows
// Ed25519 signatures only by their RFC 8037 name "EdDSA". No Hedui code is involved.
//
// Usage: java -cp jose4j.jar:slf4j-api.jar:. HeduiJavaClient <sandbox.json> <request-body.json>
// Prints one JSON object: the token type, the response's JWS alg and the opened report body.

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;

import org.jose4j.json.JsonUtil;
import org.jose4j.jwa.AlgorithmConstraints;
import org.jose4j.jwa.AlgorithmConstraints.ConstraintType;
import org.jose4j.jwe.ContentEncryptionAlgorithmIdentifiers;
import org.jose4j.jwe.JsonWebEncryption;
import org.jose4j.jwe.KeyManagementAlgorithmIdentifiers;
import org.jose4j.jwk.JsonWebKey;
import org.jose4j.jwk.JsonWebKeySet;
import org.jose4j.jwk.PublicJsonWebKey;
import org.jose4j.jws.AlgorithmIdentifiers;
import org.jose4j.jws.JsonWebSignature;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.NumericDate;

public final class HeduiJavaClient {
    private static final String JOSE = "application/jose";
    private static final String ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

    // The JDK's defaults: HTTP/2 preferred, so every new plain-HTTP connection carries "Upgrade: h2c".
    private final HttpClient http = HttpClient.newHttpClient();
    private final String baseUrl;
    private final String hubId;
    private final String memberId;
    private final PublicJsonWebKey signingKey;
    private final JsonWebKeySet ownKeys;

    private HeduiJavaClient(Path sandboxJson) throws Exception {
        Map<String, Object> sandbox = JsonUtil.parseJson(Files.readString(sandboxJson));
        baseUrl = (String) sandbox.get("base_url");
        hubId = (String) ((Map<?, ?>) sandbox.get("hub")).get("id");
        Map<?, ?> member = (Map<?, ?>) ((Map<?, ?>) sandbox.get("members")).get("mis");
        memberId = (String) member.get("id");
        ownKeys = new JsonWebKeySet(Files.readString(sandboxJson.getParent().resolve((String) member.get("private_jwks"))));
        signingKey = (PublicJsonWebKey) first(ownKeys, "sig");
    }

    public static void main(String[] args) throws Exception {
        HeduiJavaClient client = new HeduiJavaClient(Path.of(args[0]));
        Map<String, Object> body = JsonUtil.parseJson(Files.readString(Path.of(args[1])));
        System.out.println(JsonUtil.toJson(client.verify(body)));
    }

    private Map<String, Object> verify(Map<String, Object> body) throws Exception {
        Map<String, Object> metadata = JsonUtil.parseJson(get("/.well-known/oauth-authorization-server").body());
        String tokenEndpoint = (String) metadata.get("token_endpoint");
        // RFC 8414 §2: the hub must advertise the only Ed25519 name jose4j knows.
        if (!((List<?>) metadata.get("token_endpoint_auth_signing_alg_values_supported")).contains(AlgorithmIdentifiers.EDDSA)) {
            throw new IllegalStateException("the hub does not advertise EdDSA");
        }
        JsonWebKeySet hubKeys = new JsonWebKeySet(get("/.well-known/jwks.json").body());

        // 1. Access token: client credentials with a private_key_jwt client assertion (RFC 7523 §2.2).
        JwtClaims assertion = claims(tokenEndpoint);
        assertion.setSubject(memberId);
        String form = "grant_type=client_credentials"
                + "&client_assertion_type=" + URLEncoder.encode(ASSERTION_TYPE, StandardCharsets.UTF_8)
                + "&client_assertion=" + sign(assertion, "JWT");
        HttpResponse<String> tokenResponse = http.send(
                HttpRequest.newBuilder(URI.create(tokenEndpoint))
                        .header("Content-Type", "application/x-www-form-urlencoded")
                        .POST(HttpRequest.BodyPublishers.ofString(form))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        check(tokenResponse, 200);
        Map<String, Object> token = JsonUtil.parseJson(tokenResponse.body());

        // 2. Seal the request: a JWS (typ hedui+jwt) inside a JWE (ECDH-ES+A256KW, A256GCM, cty JWT).
        JwtClaims request = claims(hubId);
        request.setClaim("body", body);
        String requestJws = sign(request, "hedui+jwt");
        PublicJsonWebKey hubEncryption = (PublicJsonWebKey) first(hubKeys, "enc");
        JsonWebEncryption outer = new JsonWebEncryption();
        outer.setAlgorithmHeaderValue(KeyManagementAlgorithmIdentifiers.ECDH_ES_A256KW);
        outer.setEncryptionMethodHeaderParameter(ContentEncryptionAlgorithmIdentifiers.AES_256_GCM);
        outer.setKeyIdHeaderValue(hubEncryption.getKeyId());
        outer.setContentTypeHeaderValue("JWT");
        outer.setPayload(requestJws);
        outer.setKey(hubEncryption.getPublicKey());
        HttpResponse<String> answer = http.send(
                HttpRequest.newBuilder(URI.create(baseUrl + "/v1/verifications"))
                        .header("Authorization", "Bearer " + token.get("access_token"))
                        .header("Content-Type", JOSE)
                        .POST(HttpRequest.BodyPublishers.ofString(outer.getCompactSerialization()))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        check(answer, 201);
        if (!answer.headers().firstValue("Content-Type").orElse("").startsWith(JOSE)) {
            throw new IllegalStateException("the answer is not application/jose");
        }

        // 3. Open the answer: decrypt with our key of the JWE's kid, verify the hub's signature, check claims.
        JsonWebEncryption sealed = new JsonWebEncryption();
        sealed.setAlgorithmConstraints(permit(KeyManagementAlgorithmIdentifiers.ECDH_ES_A256KW));
        sealed.setContentEncryptionAlgorithmConstraints(permit(ContentEncryptionAlgorithmIdentifiers.AES_256_GCM));
        sealed.setCompactSerialization(answer.body());
        if (!"JWT".equals(sealed.getContentTypeHeaderValue())) {
            throw new IllegalStateException("the answer's JWE does not declare cty JWT");
        }
        sealed.setKey(((PublicJsonWebKey) byKid(ownKeys, sealed.getKeyIdHeaderValue())).getPrivateKey());
        JsonWebSignature inner = new JsonWebSignature();
        inner.setAlgorithmConstraints(permit(AlgorithmIdentifiers.EDDSA));
        inner.setCompactSerialization(sealed.getPayload());
        if (!"hedui+jwt".equals(inner.getHeader("typ"))) {
            throw new IllegalStateException("the answer's JWS is not typed hedui+jwt");
        }
        inner.setKey(((PublicJsonWebKey) byKid(hubKeys, inner.getKeyIdHeaderValue())).getPublicKey());
        if (!inner.verifySignature()) {
            throw new IllegalStateException("the hub's signature does not verify");
        }
        JwtClaims claims = JwtClaims.parse(inner.getPayload());
        long now = NumericDate.now().getValue();
        if (!hubId.equals(claims.getIssuer()) || !List.of(memberId).equals(claims.getAudience())) {
            throw new IllegalStateException("the answer is not from the hub to this member");
        }
        if (claims.getExpirationTime().getValue() + 60 <= now || claims.getIssuedAt().getValue() > now + 60) {
            throw new IllegalStateException("the answer has expired");
        }
        // The req claim binds the answer to this request: base64url(SHA-256(request JWS)), unpadded.
        byte[] digest = MessageDigest.getInstance("SHA-256").digest(requestJws.getBytes(StandardCharsets.US_ASCII));
        String binding = Base64.getUrlEncoder().withoutPadding().encodeToString(digest);
        if (!binding.equals(claims.getStringClaimValue("req"))) {
            throw new IllegalStateException("the answer is not bound to this request");
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("token_type", token.get("token_type"));
        result.put("request_alg", AlgorithmIdentifiers.EDDSA);
        result.put("response_alg", inner.getAlgorithmHeaderValue());
        result.put("http_version", answer.version().toString());
        result.put("body", claims.getClaimValue("body"));
        return result;
    }

    private JwtClaims claims(String audience) {
        JwtClaims claims = new JwtClaims();
        claims.setIssuer(memberId);
        claims.setAudience(audience); // one string, as the hub requires
        NumericDate now = NumericDate.now();
        claims.setIssuedAt(now);
        claims.setExpirationTimeMinutesInTheFuture(1);
        claims.setJwtId(UUID.randomUUID().toString());
        return claims;
    }

    private String sign(JwtClaims claims, String type) throws Exception {
        JsonWebSignature jws = new JsonWebSignature();
        jws.setPayload(claims.toJson());
        jws.setAlgorithmHeaderValue(AlgorithmIdentifiers.EDDSA); // jose4j's only name for Ed25519
        jws.setKeyIdHeaderValue(signingKey.getKeyId());
        jws.setHeader("typ", type);
        jws.setKey(signingKey.getPrivateKey());
        return jws.getCompactSerialization();
    }

    private HttpResponse<String> get(String path) throws Exception {
        HttpResponse<String> response = http.send(
                HttpRequest.newBuilder(URI.create(baseUrl + path)).GET().build(), HttpResponse.BodyHandlers.ofString());
        check(response, 200);
        return response;
    }

    private static void check(HttpResponse<String> response, int status) {
        if (response.statusCode() != status) {
            throw new IllegalStateException(
                    response.request().uri().getPath() + " answered HTTP " + response.statusCode() + ": " + response.body());
        }
    }

    private static AlgorithmConstraints permit(String algorithm) {
        return new AlgorithmConstraints(ConstraintType.PERMIT, algorithm);
    }

    private static JsonWebKey first(JsonWebKeySet keys, String use) {
        return keys.getJsonWebKeys().stream().filter(k -> use.equals(k.getUse())).findFirst().orElseThrow();
    }

    private static JsonWebKey byKid(JsonWebKeySet keys, String kid) {
        return keys.getJsonWebKeys().stream().filter(k -> kid.equals(k.getKeyId())).findFirst().orElseThrow();
    }
}
