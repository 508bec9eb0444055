{#-
  Changes to what people may do: every change of a profile (a profile is a set of
  permissions: each of its elements is one permission), and the changes of the elements of a
  user that assign profiles or skills to the user (var lp_audittrail_user_permission_elements,
  default Profiles and Skills). docs/models.md says why these and no others.
-#}

with changes as (

    select * from {{ ref('stg_lp_audittrail__changes') }}

),

chosen as (

    select
        changes.*,
        case
            when audited_element = 'profiles' and is_field_change then 'profile_permission'
            when audited_element = 'profiles' then 'profile_lifecycle'
            else 'user_assignment'
        end as permission_change_kind
    from changes
    where audited_element = 'profiles'
        or (
            audited_element = 'users'
            and lower(element) in {{ lp_audittrail_lower_list(var('lp_audittrail_user_permission_elements')) }}
        )

)

select
    change_id,
    changed_at,
    changed_on,
    permission_change_kind,
    case when audited_element = 'profiles' then 'profile' else 'user' end as subject_type,
    object_type,
    object_name as subject_name,
    element as permission,
    action_type,
    old_value,
    new_value,
    case
        when permission_change_kind = 'profile_lifecycle' and action_type = 'Add' then 'created'
        when permission_change_kind = 'profile_lifecycle' and action_type = 'Delete' then 'deleted'
        when action_type = 'Delete' then 'revoked'
        when permission_change_kind = 'profile_permission'
            and lower(new_value) = 'true' and coalesce(lower(old_value), '') <> 'true' then 'granted'
        when permission_change_kind = 'profile_permission'
            and lower(old_value) = 'true' and coalesce(lower(new_value), '') <> 'true' then 'revoked'
        when permission_change_kind = 'user_assignment' and action_type = 'Add' then 'granted'
        else 'changed'
    end as permission_effect,
    originator,
    originator_login_name,
    originator_user_id,
    originator_auth_type,
    originator_is_lpa
from chosen
